export { assertCertificates } from './certs';
export type { TspErrorCode } from './errors';
export { TspError } from './errors';
export { parsePemCertificates, toPem } from './pem';
export type { RequestTimestampOptions, TimestampRequest, TimestampRequestOptions } from './request';
export { createTimestampRequest, requestTimestamp } from './request';
export { tokenCertificates } from './token';
export type { TokenExpectation, VerifiedTimestamp } from './verify';
export { verifyTimestampResponse, verifyTimestampToken } from './verify';
