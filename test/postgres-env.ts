/**
 * Set-up of each test file of the projects with PostgreSQL: TEST_STATE=postgres and the suite's server,
 * which test/helpers/state-engines.ts reads.
 */
import { inject } from 'vitest';

Object.assign(process.env, { TEST_STATE: 'postgres', TEST_POSTGRES_URL: inject('postgresUrl') });
