import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CfnOutput, Duration, RemovalPolicy, Stack, Token, Validations, type StackProps } from 'aws-cdk-lib';
import { Certificate } from 'aws-cdk-lib/aws-certificatemanager';
import {
  AllowedMethods,
  type BehaviorOptions,
  CachePolicy,
  OriginProtocolPolicy,
  OriginRequestPolicy,
  OriginSslPolicy,
  Distribution,
  HeadersFrameOption,
  HeadersReferrerPolicy,
  HttpVersion,
  PriceClass,
  ResponseHeadersPolicy,
  SecurityPolicyProtocol,
  ViewerProtocolPolicy,
} from 'aws-cdk-lib/aws-cloudfront';
import { HttpOrigin, S3BucketOrigin } from 'aws-cdk-lib/aws-cloudfront-origins';
import { BlockPublicAccess, Bucket, BucketEncryption, ObjectOwnership, type CfnBucket } from 'aws-cdk-lib/aws-s3';
import { BucketDeployment, CacheControl, Source } from 'aws-cdk-lib/aws-s3-deployment';
import type { Construct } from 'constructs';
import { contentSecurityPolicy, dashboardCacheControl, dashboardSecurityHeaders } from '../dashboard-security.js';

/** `npm run build:dashboard` writes here. */
export const defaultDashboardAssetsDir = fileURLToPath(new URL('../../dashboard/dist', import.meta.url));

export interface DashboardDomain {
  /** Alternate domain names (CNAMEs), e.g. `['twin.example.com']`. */
  readonly domainNames: string[];
  /** An ACM certificate for the names, in us-east-1 (CloudFront's rule, whatever the stack's region). */
  readonly certificateArn: string;
}

/** The API served through the dashboard's distribution, so the page calls it on its own origin (no CORS). */
export interface DashboardApiOrigin {
  /** The API's host name: `<id>.execute-api.<region>.amazonaws.com`, or its custom domain (may be a token). */
  readonly domainName: string;
  /** CloudFront path patterns routed to the API (functions/routes.ts `apiPathPatterns`), e.g. `/api/*`, `/health`. */
  readonly pathPatterns: readonly string[];
}

export interface DashboardStackProps extends StackProps {
  /**
   * The API's base URL, e.g. the ApiStack's issuer (`https://<id>.execute-api.<region>.amazonaws.com` or the
   * custom domain). Written to config.json at deploy time and allowed in the page's `connect-src`; may be a
   * token. Without {@link apiOrigin} the API must allow the dashboard's origin in CORS (`api.corsOrigins`).
   */
  readonly apiUrl: string;
  /**
   * Route the API's paths through this distribution to the API (no caching, every method, every viewer
   * header but Host, so Authorization reaches it). The page then calls the API on its own origin: config.json
   * is `{}` and no CORS is needed, on the first deploy and with custom domains alike.
   * @default none: the page calls `apiUrl` cross-origin
   */
  readonly apiOrigin?: DashboardApiOrigin;
  /**
   * The built dashboard: index.html and assets/.
   * @default dashboard/dist (`npm run build:dashboard`)
   */
  readonly assetsDir?: string;
  /**
   * Serve on your own names with an ACM certificate, with TLS 1.2 as the minimum. Without it the page is on
   * `<id>.cloudfront.net`, where CloudFront's default certificate fixes the security policy at TLSv1 (the
   * browsers in use negotiate TLS 1.3 anyway, but older protocols are not refused): set it in production.
   * @default none
   */
  readonly domain?: DashboardDomain;
  /**
   * Web ACL (AWS WAF, global scope, created in us-east-1) to attach, e.g. to limit the page to plant IP ranges.
   * @default none
   */
  readonly webAclArn?: string;
  /**
   * What happens to the buckets when the stack is deleted. DESTROY empties them first (their contents are a
   * build output and logs).
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * How long CloudFront and S3 access logs are kept.
   * @default 90 days
   */
  readonly logRetention?: Duration;
  /** @default PriceClass.PRICE_CLASS_100 (North America and Europe edges) */
  readonly priceClass?: PriceClass;
}

/**
 * Hosts the dashboard: a private S3 bucket read only by one CloudFront distribution through Origin Access
 * Control, HTTPS only, the same security headers as the local twin (infra/dashboard-security.ts) with the API
 * added to `connect-src`, and the build deployed with `config.json` (`{ apiUrl }`) written beside index.html.
 * Hashed assets are cached for a year; index.html and config.json are revalidated and invalidated on deploy.
 */
export class DashboardStack extends Stack {
  readonly bucket: Bucket;
  readonly logBucket: Bucket;
  readonly distribution: Distribution;
  readonly responseHeadersPolicy: ResponseHeadersPolicy;
  /** `https://<domain>`: the origin to add to the API's `corsOrigins`. */
  readonly url: string;

  constructor(scope: Construct, id: string, props: DashboardStackProps) {
    super(scope, id, props);
    const assetsDir = props.assetsDir ?? defaultDashboardAssetsDir;
    if (!existsSync(join(assetsDir, 'index.html'))) {
      throw new Error(`DashboardStack: ${join(assetsDir, 'index.html')} not found; run \`npm run build:dashboard\` before synth`);
    }
    const apiUrl = props.apiUrl.replace(/\/+$/, '');
    if (!Token.isUnresolved(apiUrl) && !/^https:\/\/[^/?#@\s]+(\/[^?#\s]*)?$/.test(apiUrl)) {
      throw new Error(`DashboardStack: apiUrl must be an https URL without query or credentials, got "${props.apiUrl}"`);
    }
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const destroy = removalPolicy === RemovalPolicy.DESTROY;

    // CloudFront standard logs are delivered with ACLs, so this bucket alone needs object-writer ownership.
    this.logBucket = new Bucket(this, 'LogBucket', {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      objectOwnership: ObjectOwnership.OBJECT_WRITER,
      lifecycleRules: [{ expiration: props.logRetention ?? Duration.days(90) }],
      removalPolicy,
      autoDeleteObjects: destroy,
    });
    Validations.of(this.logBucket).acknowledge({
      id: 'AwsSolutions::AwsSolutions-S1',
      reason: 'This is the access-log bucket; logging it into itself would loop.',
    });

    this.bucket = new Bucket(this, 'SiteBucket', {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: this.logBucket,
      serverAccessLogsPrefix: 'site-bucket/',
      removalPolicy,
      autoDeleteObjects: destroy,
    });

    this.responseHeadersPolicy = new ResponseHeadersPolicy(this, 'SecurityHeaders', {
      comment: 'Twinserve dashboard: strict CSP, HSTS, nosniff, no referrer, no framing',
      securityHeadersBehavior: {
        contentSecurityPolicy: { contentSecurityPolicy: contentSecurityPolicy({ connectSrc: [apiUrl] }), override: true },
        contentTypeOptions: { override: true },
        frameOptions: { frameOption: HeadersFrameOption.DENY, override: true },
        referrerPolicy: { referrerPolicy: HeadersReferrerPolicy.NO_REFERRER, override: true },
        strictTransportSecurity: { accessControlMaxAge: Duration.days(730), includeSubdomains: true, override: true },
      },
      customHeadersBehavior: {
        customHeaders: (['cross-origin-opener-policy', 'cross-origin-resource-policy', 'permissions-policy'] as const).map((header) => ({
          header,
          value: dashboardSecurityHeaders[header],
          override: true,
        })),
      },
    });

    const domain = props.domain;
    // The API through the same distribution: HTTPS with TLS 1.2 to API Gateway, nothing cached (every answer
    // depends on the caller's token), all viewer headers but Host (API Gateway routes on its own host name;
    // with caching disabled this policy forwards Authorization).
    const apiBehavior: BehaviorOptions | undefined = props.apiOrigin
      ? {
          origin: new HttpOrigin(props.apiOrigin.domainName, {
            protocolPolicy: OriginProtocolPolicy.HTTPS_ONLY,
            originSslProtocols: [OriginSslPolicy.TLS_V1_2],
            // API Gateway's integration timeout is 30 s; CloudFront's default read timeout is 30 s too.
            readTimeout: Duration.seconds(30),
          }),
          viewerProtocolPolicy: ViewerProtocolPolicy.HTTPS_ONLY,
          allowedMethods: AllowedMethods.ALLOW_ALL,
          cachePolicy: CachePolicy.CACHING_DISABLED,
          originRequestPolicy: OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
          compress: true,
        }
      : undefined;
    this.distribution = new Distribution(this, 'Distribution', {
      comment: `Twinserve dashboard (${this.stackName})`,
      defaultRootObject: 'index.html',
      defaultBehavior: {
        origin: S3BucketOrigin.withOriginAccessControl(this.bucket),
        viewerProtocolPolicy: ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
        allowedMethods: AllowedMethods.ALLOW_GET_HEAD,
        // Honours the objects' Cache-Control: a year for hashed assets, revalidation for index.html and config.json.
        cachePolicy: CachePolicy.CACHING_OPTIMIZED,
        responseHeadersPolicy: this.responseHeadersPolicy,
        compress: true,
      },
      ...(apiBehavior ? { additionalBehaviors: Object.fromEntries(props.apiOrigin!.pathPatterns.map((pattern) => [pattern, apiBehavior])) } : {}),
      httpVersion: HttpVersion.HTTP2_AND_3,
      priceClass: props.priceClass ?? PriceClass.PRICE_CLASS_100,
      enableLogging: true,
      logBucket: this.logBucket,
      logFilePrefix: 'cloudfront/',
      ...(props.webAclArn ? { webAclId: props.webAclArn } : {}),
      // The policy applies only with a certificate of our own (CloudFront ignores it for *.cloudfront.net).
      ...(domain
        ? {
            domainNames: domain.domainNames,
            certificate: Certificate.fromCertificateArn(this, 'Certificate', domain.certificateArn),
            minimumProtocolVersion: SecurityPolicyProtocol.TLS_V1_2_2021,
          }
        : {}),
    });
    this.url = `https://${domain?.domainNames[0] ?? this.distribution.distributionDomainName}`;

    const acknowledge = (id: string, reason: string) => Validations.of(this.distribution).acknowledge({ id: `AwsSolutions::AwsSolutions-${id}`, reason });
    acknowledge('CFR1', 'Plants are in several countries; access is controlled by sign-in (and optionally a WAF IP set), not geography.');
    if (!props.webAclArn) {
      acknowledge('CFR2', 'Static files only; the API has its own throttling and authorizer. Pass webAclArn to attach AWS WAF.');
    }
    if (!domain) {
      acknowledge('CFR4', "Without a custom domain CloudFront's default certificate fixes the policy at TLSv1; set `domain` for TLS 1.2 minimum.");
    }

    // Hashed files first (kept across deploys, so a page loaded before a deploy still finds its assets), then
    // index.html and config.json, which point at them, with the cache invalidated for those two only.
    const assets = new BucketDeployment(this, 'DeployAssets', {
      sources: [Source.asset(assetsDir, { exclude: ['index.html', 'config.json'] })],
      destinationBucket: this.bucket,
      exclude: ['index.html', 'config.json'],
      prune: false,
      cacheControl: [CacheControl.fromString(dashboardCacheControl.immutable)],
      memoryLimit: 256,
    });
    const page = new BucketDeployment(this, 'DeployPage', {
      sources: [Source.asset(assetsDir, { exclude: ['*', '!index.html'] }), Source.jsonData('config.json', props.apiOrigin ? {} : { apiUrl })],
      destinationBucket: this.bucket,
      prune: false,
      cacheControl: [CacheControl.fromString(dashboardCacheControl.revalidate)],
      distribution: this.distribution,
      distributionPaths: ['/', '/index.html', '/config.json'],
      memoryLimit: 256,
    });
    page.node.addDependency(assets);

    this.acknowledgeDeploymentHandler();

    new CfnOutput(this, 'DashboardUrl', {
      value: this.url,
      description: props.apiOrigin ? 'Open this: the dashboard, with the API on the same origin' : 'Open this; add it to api.corsOrigins in cdk.json',
    });
    new CfnOutput(this, 'DistributionId', { value: this.distribution.distributionId });
  }

  /**
   * BucketDeployment's handler is a CDK-provided function whose role cdk-nag flags finding by finding; each
   * finding is acknowledged by name on that role only, so anything else in the stack is still checked.
   */
  private acknowledgeDeploymentHandler(): void {
    const handler = this.node.children.find((c) => c.node.id.startsWith('Custom::CDKBucketDeployment'));
    const role = handler?.node.tryFindChild('ServiceRole');
    if (!role) throw new Error('DashboardStack: the BucketDeployment handler role was not found (aws-cdk-lib changed its construct tree)');
    const show = (value: string) => (Token.isUnresolved(value) ? undefined : value);
    // cdk-nag names unresolved parts <AWS::...>; the stack's partition resolves once its region is known (with
    // cdk.json's feature flags), and the asset bucket's ARN follows it.
    const partition = show(this.partition) ?? '<AWS::Partition>';
    const account = show(this.account) ?? '<AWS::AccountId>';
    const region = show(this.region) ?? '<AWS::Region>';
    const qualifier = (this.node.tryGetContext('@aws-cdk/core:bootstrapQualifier') as string | undefined) ?? 'hnb659fds';
    const siteBucket = this.getLogicalId(this.bucket.node.defaultChild as CfnBucket);
    const findings: [string, string][] = [
      // The managed policy's ARN always names the partition through the pseudo parameter.
      ['IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]', 'The CDK-provided BucketDeployment function: this managed policy grants CloudWatch Logs writes only.'],
      ...['s3:GetObject*', 's3:GetBucket*', 's3:List*', 's3:DeleteObject*', 's3:Abort*'].map(
        (action): [string, string] => [`IAM5[Action::${action}]`, 'CDK-provided BucketDeployment grants: read the CDK asset bucket, write the site bucket.'],
      ),
      [`IAM5[Resource::<${siteBucket}.Arn>/*]`, 'Writes the build into the site bucket (every object is the build).'],
      [`IAM5[Resource::arn:${partition}:s3:::cdk-${qualifier}-assets-${account}-${region}/*]`, 'Reads the staged build from the CDK asset bucket.'],
      ['IAM5[Resource::*]', 'CloudFront CreateInvalidation/GetInvalidation have no resource-level scoping.'],
    ];
    for (const [id, reason] of findings) Validations.of(role).acknowledge({ id: `AwsSolutions::AwsSolutions-${id}`, reason });
    Validations.of(handler!).acknowledge({ id: 'AwsSolutions::AwsSolutions-L1', reason: 'The runtime of CDK-provided functions is chosen by aws-cdk-lib.' });
  }
}
