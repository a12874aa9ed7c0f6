// The S3 bundle store, apart from the package's main entry so that importing that entry does
// not load the AWS SDK (openBundleStore loads these modules only for an S3 store).
export { createS3Client } from './s3-client';
export { S3BundleStore } from './s3-store';
