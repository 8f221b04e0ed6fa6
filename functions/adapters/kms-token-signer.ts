import { GetPublicKeyCommand, SignCommand, type KMSClient } from '@aws-sdk/client-kms';
import type { JWK } from 'jose';
import type { TokenSigner } from '../core/auth/tokens.js';
import { publicJwkFromSpki } from './jwk.js';

/**
 * Signs with a KMS asymmetric RSA_2048 SIGN_VERIFY key: the private key never leaves KMS. `keyIds[0]` signs;
 * every id listed is published in the JWKS (the previous key stays until tokens it signed have expired).
 * The `kid` is the KMS key id, so a rotation is visible in every token header.
 */
export class KmsTokenSigner implements TokenSigner {
  private jwksCache: Promise<{ keys: JWK[] }> | undefined;

  constructor(
    private readonly kms: KMSClient,
    private readonly keyIds: readonly string[],
  ) {
    if (keyIds.length === 0) throw new Error('KmsTokenSigner needs at least one key id');
  }

  private static kid(keyId: string): string {
    // An ARN's last segment is the key id; a bare id stays as it is.
    return keyId.split('/').at(-1) ?? keyId;
  }

  async keyId() {
    return KmsTokenSigner.kid(this.keyIds[0]!);
  }

  async sign(signingInput: Uint8Array) {
    const out = await this.kms.send(
      new SignCommand({ KeyId: this.keyIds[0], Message: signingInput, MessageType: 'RAW', SigningAlgorithm: 'RSASSA_PKCS1_V1_5_SHA_256' }),
    );
    if (!out.Signature) throw new Error('KMS returned no signature');
    return out.Signature;
  }

  jwks() {
    this.jwksCache ??= Promise.all(
      this.keyIds.map(async (id) => {
        const out = await this.kms.send(new GetPublicKeyCommand({ KeyId: id }));
        if (!out.PublicKey) throw new Error(`KMS returned no public key for ${id}`);
        return publicJwkFromSpki(out.PublicKey, KmsTokenSigner.kid(id));
      }),
    ).then((keys) => ({ keys }));
    this.jwksCache.catch(() => (this.jwksCache = undefined));
    return this.jwksCache;
  }
}
