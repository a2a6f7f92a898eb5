/**
 * Set-up of each test file of the S3 project: the AWS variables that reach the suite's MinIO (the SDK reads
 * them, as in production), and TEST_BLOBS=s3 with the bucket, which the engine helpers read to store on S3.
 */
import { inject } from 'vitest';

const { env, bucket } = inject('s3');
Object.assign(process.env, env, { TEST_BLOBS: 's3', TEST_S3_BUCKET: bucket });
