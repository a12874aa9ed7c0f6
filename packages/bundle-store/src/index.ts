export type { BundleStoreErrorCode } from './errors';
export { BundleStoreError, isBundleStoreError } from './errors';
export type { BundleStoreConfig } from './from-env';
export {
  bundleStoreConfigFromEnv,
  bundleStoreFromEnv,
  openBundleStore,
  parseS3Location,
} from './from-env';
export { LocalBundleStore } from './local-store';
// The S3 store is '@quittance/bundle-store/s3': this entry must not load the AWS SDK.
export type { S3ClientOptions } from './s3-client';
export type { S3BundleStoreOptions } from './s3-store';
export type { BundleDownload, BundleInfo, BundleStore, BundleWrite } from './store';
export { assertBundleKey, bundleKey } from './store';
