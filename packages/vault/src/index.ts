export type { BodyKind, Sealed } from './aes-gcm';
export { bodyAad, IV_BYTES, KEY_BYTES, open, seal, TAG_BYTES } from './aes-gcm';
export type { VaultErrorCode } from './errors';
export { VaultError } from './errors';
export type { KeyWrapper, WrapContext } from './key-wrapper';
export { KmsKeyWrapper, LocalKeyWrapper, parseLocalKek } from './key-wrapper';
export type { DataKeyStore, SealedBody, StoredDataKey, VaultOptions } from './vault';
export { Vault } from './vault';
