import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Lazy, RemovalPolicy, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contentSecurityPolicy, dashboardCacheControl } from '../../infra/dashboard-security.js';
import { DashboardStack, type DashboardStackProps } from '../../infra/stacks/dashboard-stack.js';
import { apiPathPatterns, routeKey, routes } from '../../functions/routes.js';
import { cdkJsonContext } from '../support/cdk.js';

/**
 * Template tests of the dashboard hosting, in its own App (the platform's stacks are tested elsewhere) with
 * cdk.json's context, and cdk-nag's AwsSolutions checks at synth: an unacknowledged finding fails synthesis.
 * A fixture stands in for dashboard/dist so the test needs no build. Synthesized once per configuration.
 */

const apiUrl = 'https://abc123defg.execute-api.eu-west-1.amazonaws.com';
const certificateArn = 'arn:aws:acm:us-east-1:111111111111:certificate/11111111-2222-3333-4444-555555555555';

let root: string;
let assetsDir: string;

interface Synth {
  stack: DashboardStack;
  template: Template;
  outdir: string;
}
const synths: Synth[] = [];

function synth(props: Partial<DashboardStackProps> = {}): Synth {
  const outdir = mkdtempSync(join(tmpdir(), 'twinserve-dashboard-cdk-'));
  // cdk.json's context (its feature flags change how ARNs render, and so what cdk-nag reports), as `cdk synth`.
  const app = new App({ outdir, context: { ...cdkJsonContext(), 'aws:cdk:bundling-stacks': [] } });
  const stack = new DashboardStack(app, 'Dashboard', { env: { account: '111111111111', region: 'eu-west-1' }, apiUrl, assetsDir, ...props });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  app.synth();
  const result = { stack, template: Template.fromStack(stack), outdir };
  synths.push(result);
  return result;
}

/** The directory assets staged in cdk.out, each as its file list (and `dir`, its name). */
function stagedAssets(s: Synth): (string[] & { dir: string })[] {
  return readdirSync(s.outdir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && d.name.startsWith('asset.'))
    .map((d) => Object.assign(readdirSync(join(s.outdir, d.name)).sort(), { dir: d.name }));
}

type Resources = Record<string, { Type: string; Properties: Record<string, any> }>;
const resources = (template: Template, type: string): Resources => template.findResources(type) as Resources;
const only = (template: Template, type: string) => {
  const found = Object.entries(resources(template, type));
  expect(found).toHaveLength(1);
  return found[0]!;
};

let base: Synth;
let withDomain: Synth;

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'twinserve-dashboard-dist-'));
  assetsDir = join(root, 'dist');
  mkdirSync(join(assetsDir, 'assets'), { recursive: true });
  writeFileSync(join(assetsDir, 'index.html'), '<!doctype html><script type="module" src="./assets/index-abc.js"></script>');
  writeFileSync(join(assetsDir, 'assets', 'index-abc.js'), 'console.log(1)');
  writeFileSync(join(assetsDir, 'assets', 'index-abc.css'), 'body{}');
  base = synth();
  withDomain = synth({ domain: { domainNames: ['twin.example.com'], certificateArn }, removalPolicy: RemovalPolicy.DESTROY });
});

afterAll(() => {
  for (const s of synths) rmSync(s.outdir, { recursive: true, force: true });
  rmSync(root, { recursive: true, force: true });
});

describe('DashboardStack', () => {
  it('keeps the site bucket private: public access blocked, encrypted, TLS only, no website endpoint', () => {
    // Assess
    const [id, bucket] = Object.entries(resources(base.template, 'AWS::S3::Bucket')).find(([k]) => k.startsWith('SiteBucket'))!;
    expect(bucket.Properties).toMatchObject({
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
      LoggingConfiguration: { DestinationBucketName: { Ref: expect.stringMatching(/^LogBucket/) }, LogFilePrefix: 'site-bucket/' },
    });
    expect(bucket.Properties.WebsiteConfiguration).toBeUndefined();
    const policies = Object.values(resources(base.template, 'AWS::S3::BucketPolicy')).filter((p) => p.Properties.Bucket.Ref === id);
    const statements = policies.flatMap((p) => p.Properties.PolicyDocument.Statement as Record<string, any>[]);
    expect(statements).toContainEqual(expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }));
    // Only CloudFront, only this distribution (OAC), only reads. Nothing public, no legacy OAI.
    const allows = statements.filter((s) => s.Effect === 'Allow' && s.Principal?.Service === 'cloudfront.amazonaws.com');
    expect(allows).toHaveLength(1);
    expect(allows[0]).toMatchObject({
      Action: 's3:GetObject',
      Condition: { StringEquals: { 'AWS:SourceArn': expect.anything() } },
    });
    const allowed = statements.filter((s) => s.Effect === 'Allow');
    expect(allowed).toEqual(allows);
    expect(JSON.stringify(allowed)).not.toMatch(/"\*"|CanonicalUser/);
    base.template.resourceCountIs('AWS::CloudFront::CloudFrontOriginAccessIdentity', 0);
  });

  it('serves only through CloudFront with Origin Access Control, HTTPS only, GET/HEAD, logged', () => {
    // Assess
    const [, oac] = only(base.template, 'AWS::CloudFront::OriginAccessControl');
    expect(oac.Properties.OriginAccessControlConfig).toMatchObject({ OriginAccessControlOriginType: 's3', SigningBehavior: 'always', SigningProtocol: 'sigv4' });
    const [, distribution] = only(base.template, 'AWS::CloudFront::Distribution');
    const config = distribution.Properties.DistributionConfig;
    expect(config).toMatchObject({
      DefaultRootObject: 'index.html',
      HttpVersion: 'http2and3',
      Enabled: true,
      Logging: { Bucket: expect.anything(), Prefix: 'cloudfront/' },
      DefaultCacheBehavior: {
        ViewerProtocolPolicy: 'redirect-to-https',
        AllowedMethods: ['GET', 'HEAD'],
        Compress: true,
        ResponseHeadersPolicyId: { Ref: expect.stringMatching(/^SecurityHeaders/) },
      },
    });
    expect(config.Origins).toHaveLength(1);
    expect(config.Origins[0]).toMatchObject({ OriginAccessControlId: { 'Fn::GetAtt': [expect.stringMatching(/OriginAccessControl/), 'Id'] }, S3OriginConfig: { OriginAccessIdentity: '' } });
    // The default *.cloudfront.net certificate: CloudFront decides the policy (see the custom-domain case).
    expect(config.ViewerCertificate).toBeUndefined();
  });

  it('enforces TLS 1.2 and SNI with a custom domain and its ACM certificate', () => {
    // Assess
    const [, distribution] = only(withDomain.template, 'AWS::CloudFront::Distribution');
    expect(distribution.Properties.DistributionConfig).toMatchObject({
      Aliases: ['twin.example.com'],
      ViewerCertificate: { AcmCertificateArn: certificateArn, MinimumProtocolVersion: 'TLSv1.2_2021', SslSupportMethod: 'sni-only' },
    });
    expect(withDomain.stack.url).toBe('https://twin.example.com');
  });

  it('sends the same strict security headers as the local twin, with the API allowed in connect-src', () => {
    // Assess
    const [, policy] = only(base.template, 'AWS::CloudFront::ResponseHeadersPolicy');
    const config = policy.Properties.ResponseHeadersPolicyConfig;
    expect(config.SecurityHeadersConfig).toEqual({
      ContentSecurityPolicy: { ContentSecurityPolicy: contentSecurityPolicy({ connectSrc: [apiUrl] }), Override: true },
      ContentTypeOptions: { Override: true },
      FrameOptions: { FrameOption: 'DENY', Override: true },
      ReferrerPolicy: { ReferrerPolicy: 'no-referrer', Override: true },
      StrictTransportSecurity: { AccessControlMaxAgeSec: 63_072_000, IncludeSubdomains: true, Override: true },
    });
    const csp = config.SecurityHeadersConfig.ContentSecurityPolicy.ContentSecurityPolicy as string;
    expect(csp).toContain(`connect-src 'self' ${apiUrl}`);
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|\*/);
    expect(config.CustomHeadersConfig.Items).toEqual(
      expect.arrayContaining([{ Header: 'cross-origin-opener-policy', Value: 'same-origin', Override: true }]),
    );
  });

  it('deploys the build: hashed assets immutable and kept, then index.html and config.json revalidated and invalidated', () => {
    // Assess
    const deployments = Object.entries(resources(base.template, 'Custom::CDKBucketDeployment'));
    expect(deployments).toHaveLength(2);
    const [, assets] = deployments.find(([id]) => id.startsWith('DeployAssets'))!;
    const [pageId, page] = deployments.find(([id]) => id.startsWith('DeployPage'))!;
    expect(assets.Properties).toMatchObject({ Prune: false, Exclude: ['index.html', 'config.json'], SystemMetadata: { 'cache-control': dashboardCacheControl.immutable } });
    expect(assets.Properties.DistributionId).toBeUndefined();
    expect(page.Properties).toMatchObject({
      Prune: false,
      SystemMetadata: { 'cache-control': dashboardCacheControl.revalidate },
      DistributionId: { Ref: expect.stringMatching(/^Distribution/) },
      DistributionPaths: ['/', '/index.html', '/config.json'],
    });
    expect(base.template.toJSON().Resources[pageId].DependsOn).toEqual(expect.arrayContaining([expect.stringMatching(/^DeployAssets/)]));
    // What each deployment uploads: hashed assets without index.html; index.html alone; config.json alone.
    expect(stagedAssets(base).map((files) => [...files])).toEqual(expect.arrayContaining([['assets'], ['index.html'], ['config.json']]));
    expect(readdirSync(join(base.outdir, stagedAssets(base).find((f) => f.includes('assets'))!.dir, 'assets')).sort()).toEqual(['index-abc.css', 'index-abc.js']);
  });

  it('writes config.json with the API URL and nothing else, resolved at deploy time when it is a token', () => {
    // Prepare
    // ...in an environment-agnostic stack, as `cdk synth` makes without an account (cdk-nag must still pass)
    const tokenSynth = synth({ apiUrl: Lazy.string({ produce: () => apiUrl }), env: undefined });

    // Assess: with a literal URL, config.json is a plain asset; with a token, a marker the deployment fills in
    const staged = (s: Synth) =>
      stagedAssets(s)
        .filter((files) => files.includes('config.json'))
        .map((files) => readFileSync(join(s.outdir, files.dir, 'config.json'), 'utf8'));
    expect(staged(base).map((t) => JSON.parse(t))).toEqual([{ apiUrl }]);
    const [marked] = staged(tokenSynth);
    expect(Object.keys(JSON.parse(marked!))).toEqual(['apiUrl']);
    const [, page] = Object.entries(resources(tokenSynth.template, 'Custom::CDKBucketDeployment')).find(([id]) => id.startsWith('DeployPage'))!;
    expect(JSON.stringify(page.Properties.SourceMarkers)).toContain(apiUrl);
  });

  it('keeps buckets by default and empties them first when told to destroy', () => {
    // Assess
    for (const bucket of Object.values(base.template.toJSON().Resources as Record<string, any>).filter((r) => r.Type === 'AWS::S3::Bucket')) {
      expect(bucket.DeletionPolicy).toBe('Retain');
    }
    base.template.resourceCountIs('Custom::S3AutoDeleteObjects', 0);
    withDomain.template.resourceCountIs('Custom::S3AutoDeleteObjects', 2);
    withDomain.template.allResources('AWS::S3::Bucket', { DeletionPolicy: 'Delete' });
    base.template.hasResourceProperties('AWS::S3::Bucket', {
      OwnershipControls: { Rules: [{ ObjectOwnership: 'ObjectWriter' }] },
      LifecycleConfiguration: { Rules: [Match.objectLike({ ExpirationInDays: 90, Status: 'Enabled' })] },
    });
  });

  it('refuses to synthesize without a build or with an insecure API URL', () => {
    const app = new App();
    expect(() => new DashboardStack(app, 'NoBuild', { apiUrl, assetsDir: join(root, 'missing') })).toThrow(/npm run build:dashboard/);
    expect(() => new DashboardStack(app, 'Http', { apiUrl: 'http://abc.example.com', assetsDir })).toThrow(/https/);
    expect(() => new DashboardStack(app, 'Query', { apiUrl: 'https://abc.example.com/?token=x', assetsDir })).toThrow(/https/);
  });

  it('with apiOrigin, serves the API on the page’s own origin: uncached, every method, Authorization forwarded, config.json {}', () => {
    // Prepare
    const sameOrigin = synth({ apiOrigin: { domainName: 'abc123defg.execute-api.eu-west-1.amazonaws.com', pathPatterns: apiPathPatterns() } });

    // Assess: one behaviour per pattern of the route table, all to the API origin over HTTPS with TLS 1.2
    const [, distribution] = only(sameOrigin.template, 'AWS::CloudFront::Distribution');
    const config = distribution.Properties.DistributionConfig;
    const apiOrigin = config.Origins.find((o: any) => o.DomainName === 'abc123defg.execute-api.eu-west-1.amazonaws.com');
    expect(apiOrigin.CustomOriginConfig).toMatchObject({ OriginProtocolPolicy: 'https-only', OriginSSLProtocols: ['TLSv1.2'] });
    const behaviours = config.CacheBehaviors as any[];
    expect(behaviours.map((b) => b.PathPattern).sort()).toEqual(apiPathPatterns());
    for (const route of routes) {
      const [first, ...rest] = route.path.slice(1).split('/');
      expect(behaviours.map((b) => b.PathPattern), routeKey(route)).toContain(rest.length ? `/${first}/*` : `/${first}`);
    }
    for (const b of behaviours) {
      expect(b.TargetOriginId).toBe(apiOrigin.Id);
      expect(b.AllowedMethods).toEqual(['GET', 'HEAD', 'OPTIONS', 'PUT', 'PATCH', 'POST', 'DELETE']);
      // AWS managed policies: CachingDisabled, and AllViewerExceptHostHeader (forwards Authorization when nothing is cached).
      expect(b.CachePolicyId).toBe('4135ea2d-6df8-44a3-9df3-4b5a84be39ad');
      expect(b.OriginRequestPolicyId).toBe('b689b0a8-53d0-40ab-baf2-68738e2966ac');
      expect(b.ViewerProtocolPolicy).toBe('https-only');
    }
    // The page calls the API same-origin: config.json names no API URL.
    const configs = stagedAssets(sameOrigin)
      .filter((files) => files.includes('config.json'))
      .map((files) => JSON.parse(readFileSync(join(sameOrigin.outdir, files.dir, 'config.json'), 'utf8')) as unknown);
    expect(configs).toEqual([{}]);
  });
});
