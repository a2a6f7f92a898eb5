import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeConfig, loadConfig } from './config.js';
import { parsePostgresUrl } from './storage/postgres-state/location.js';
import { parseClickHouseUrl } from './storage/clickhouse-index/location.js';
import { PACKAGE_ROOT } from './ops/package.js';

describe('box settings from the environment', () => {
  it('reads the public URL without trailing slashes, and box timings when given', () => {
    const config = loadConfig({
      SLUICE_PUBLIC_URL: 'https://sluice.example.org/pacs/',
      SLUICE_BOX_POLL_INTERVAL_MS: '250',
      SLUICE_BOX_PARALLELISM: '4',
    });
    expect(config.publicUrl).toBe('https://sluice.example.org/pacs');
    expect(config.boxes).toEqual({ pollIntervalMs: 250, parallelism: 4 });
    expect(loadConfig({}).publicUrl).toBeUndefined();
    expect(loadConfig({}).boxes).toEqual({});
  });

  it('refuses a public URL that is not http(s) and box numbers below 1', () => {
    expect(() => loadConfig({ SLUICE_PUBLIC_URL: 'ftp://host' })).toThrow(/SLUICE_PUBLIC_URL/);
    expect(() => loadConfig({ SLUICE_BOX_BATCH_SIZE: '0' })).toThrow(
      /SLUICE_BOX_BATCH_SIZE must be at least 1/,
    );
    expect(() => loadConfig({ SLUICE_BOX_RETRY_MAX_MS: 'soon' })).toThrow(/SLUICE_BOX_RETRY_MAX_MS/);
  });
});

describe('strict configuration', () => {
  const tmp = () => mkdtempSync(join(tmpdir(), 'sluice-config-'));

  it('refuses an unknown SLUICE_* variable with the nearest valid name', () => {
    expect(() => loadConfig({ SLUICE_HTTP_PROT: '5001' })).toThrow(
      'unknown environment variable SLUICE_HTTP_PROT (did you mean "SLUICE_HTTP_PORT"?)',
    );
    expect(() => loadConfig({ SLUICE_NOTHING_LIKE_IT: '1' })).toThrow(
      /^unknown environment variable SLUICE_NOTHING_LIKE_IT$/,
    );
    // Other programs' variables are none of our business, nor is the test suite's chromium.
    expect(loadConfig({ HTTP_PROT: '1', PATH: '/bin', SLUICE_CHROMIUM: '/usr/bin/chromium' }).httpPort).toBe(
      5000,
    );
  });

  it('resolves the default pipeline from the package, not the working directory', () => {
    const [file] = loadConfig({}).pipelines;
    expect(isAbsolute(file)).toBe(true);
    expect(file).toBe(join(PACKAGE_ROOT, 'pipelines', 'default.yaml'));
    expect(existsSync(file)).toBe(true);
  });

  it('reads a configuration file with the same keys, overridden by the environment', () => {
    const dir = tmp();
    const file = join(dir, 'sluice.yaml');
    writeFileSync(
      file,
      'http_port: 5001\nae_title: FILE_AE\ndata_dir: stored\npipelines: [a.yaml, b.yaml]\ntrusted_proxies:\n  - 127.0.0.1\n  - 10.0.0.0/8\nlog_level: debug\n',
    );
    const config = loadConfig({ SLUICE_AE_TITLE: 'ENV_AE' }, { file });
    expect(config).toMatchObject({
      httpPort: 5001,
      aeTitle: 'ENV_AE',
      dataDir: join(dir, 'stored'),
      pipelines: [join(dir, 'a.yaml'), join(dir, 'b.yaml')],
      trustedProxies: ['127.0.0.1', '10.0.0.0/8'],
      logLevel: 'debug',
      configFile: file,
    });
    expect(loadConfig({ SLUICE_CONFIG: file }).httpPort).toBe(5001);
  });

  it('names file:line:col for unknown keys (with the nearest) and wrong values', () => {
    const dir = tmp();
    const file = join(dir, 'sluice.yaml');
    writeFileSync(file, 'http_port: 5001\nae_titel: X\n');
    expect(() => loadConfig({}, { file })).toThrow(
      `${file}:2:1 ae_titel: unknown key "ae_titel" (did you mean "ae_title"?)`,
    );
    writeFileSync(file, '# ports\nhttp_port: eleven\nlog_level: loud\n');
    expect(() => loadConfig({}, { file })).toThrow(
      `${file}:2:12 http_port: http_port must be a port number\n${file}:3:12 log_level: log_level must be one of`,
    );
    writeFileSync(file, 'http_port: [1, {a: 2}]\n');
    expect(() => loadConfig({}, { file })).toThrow(/sluice\.yaml:1:12 http_port: expected a single value/);
    expect(() => loadConfig({}, { file: join(dir, 'missing.yaml') })).toThrow(/missing\.yaml: cannot read/);
  });

  it('masks the password when the configuration is described', () => {
    const config = loadConfig({ SLUICE_ADMIN_PASSWORD: 'hunter2' });
    expect(JSON.stringify(describeConfig(config))).not.toContain('hunter2');
  });
});

describe('the blob store setting', () => {
  it('reads SLUICE_BLOBS as a bucket and prefix, and leaves the AWS variables to the SDK', () => {
    expect(loadConfig({}).blobs).toBeUndefined();
    expect(
      loadConfig({
        SLUICE_BLOBS: 's3://sluice-archive/site-a/dicom/',
        AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9000',
        AWS_ACCESS_KEY_ID: 'id',
        AWS_SECRET_ACCESS_KEY: 'secret',
        AWS_REGION: 'us-east-1',
      }).blobs,
    ).toEqual({ bucket: 'sluice-archive', prefix: 'site-a/dicom/' });
    expect(loadConfig({ SLUICE_BLOBS: 's3://bucket' }).blobs).toEqual({ bucket: 'bucket', prefix: '' });
  });

  it('refuses what is not an S3 location, also from a configuration file', () => {
    expect(() => loadConfig({ SLUICE_BLOBS: '/var/lib/sluice' })).toThrow(
      /SLUICE_BLOBS: SLUICE_BLOBS must be s3:\/\/bucket or s3:\/\/bucket\/prefix/,
    );
    expect(() => loadConfig({ SLUICE_BLOBS: 's3://Bad_Bucket/x' })).toThrow(/not a valid bucket name/);
    expect(() => loadConfig({ SLUICE_BLOBS: 's3://bucket/a/../b' })).toThrow(/not a usable key prefix/);
    expect(() => loadConfig({ SLUICE_BLOB: 's3://bucket' })).toThrow(/did you mean "SLUICE_BLOBS"/);
    const dir = mkdtempSync(join(tmpdir(), 'sluice-config-'));
    const file = join(dir, 'sluice.yaml');
    writeFileSync(file, 'blobs: s3://archive/dicom\n');
    expect(loadConfig({}, { file }).blobs).toEqual({ bucket: 'archive', prefix: 'dicom/' });
  });
});

describe('the metadata index setting', () => {
  it('reads SLUICE_INDEX as ClickHouse HTTP URL, and never logs its password', () => {
    expect(loadConfig({}).index).toBeUndefined();
    const url = 'http://sluice:s3cret@clickhouse.local:8123/sluice_index';
    const config = loadConfig({ SLUICE_INDEX: url });
    expect(config.index).toBe(url);
    expect(parseClickHouseUrl(url)).toEqual({
      endpoint: 'http://clickhouse.local:8123',
      username: 'sluice',
      password: 's3cret',
      database: 'sluice_index',
    });
    expect(parseClickHouseUrl('http://host:8123').database).toBe('default');
    expect(JSON.stringify(describeConfig(config))).not.toContain('s3cret');
  });

  it('refuses what is not a ClickHouse HTTP URL with a usable database name', () => {
    expect(() => loadConfig({ SLUICE_INDEX: 'clickhouse' })).toThrow(/SLUICE_INDEX must be a URL/);
    expect(() => loadConfig({ SLUICE_INDEX: 'tcp://host:9000/db' })).toThrow(/must use http: or https:/);
    expect(() => loadConfig({ SLUICE_INDEX: 'http://host:8123/a"b' })).toThrow(/letters, digits and _ only/);
    expect(() => loadConfig({ SLUICE_INDX: 'http://host:8123/db' })).toThrow(/did you mean "SLUICE_INDEX"/);
  });
});

describe('the state store setting', () => {
  it('reads SLUICE_STATE as a PostgreSQL URL, and never logs its password', () => {
    expect(loadConfig({}).state).toBeUndefined();
    const url = 'postgres://sluice:pg%20secret@db.local:6432/sluice_state';
    const config = loadConfig({ SLUICE_STATE: url });
    expect(config.state).toBe(url);
    expect(parsePostgresUrl(url)).toEqual({ url, endpoint: 'db.local:6432', database: 'sluice_state' });
    expect(parsePostgresUrl('postgresql://db.local/x').endpoint).toBe('db.local:5432');
    expect(JSON.stringify(describeConfig(config))).not.toContain('secret');
  });

  it('refuses what is not a PostgreSQL URL naming a usable database', () => {
    expect(() => loadConfig({ SLUICE_STATE: 'postgres' })).toThrow(/SLUICE_STATE must be a URL/);
    expect(() => loadConfig({ SLUICE_STATE: 'mysql://host/db' })).toThrow(
      /must use postgres: or postgresql:/,
    );
    expect(() => loadConfig({ SLUICE_STATE: 'postgres://host:5432/' })).toThrow(/names the database ""/);
    expect(() => loadConfig({ SLUICE_STATE: 'postgres://host/a-b' })).toThrow(/letters, digits and _/);
    expect(() => loadConfig({ SLUICE_STATE: 'postgres://host/x";DROP' })).toThrow(/letters, digits and _/);
  });
});

describe('roles and the bus', () => {
  it('runs every role in one process by default, and reads roles and the bus', () => {
    expect(loadConfig({}).roles).toEqual(['all']);
    expect(loadConfig({}).bus).toBeUndefined();
    const config = loadConfig({
      SLUICE_ROLE: 'frontend, api',
      SLUICE_BUS: 'kafka://k1:9092,k2:9092/',
      SLUICE_BUS_PARTITIONS: '24',
    });
    expect(config.roles).toEqual(['frontend', 'api']);
    expect(config.bus).toBe('kafka://k1:9092,k2:9092');
    expect(config.busPartitions).toBe(24);
    expect(config.busReplyTimeoutMs).toBe(60_000);
  });

  it('refuses unknown roles, `all` with others, a role without a bus and a bus that is not Kafka', () => {
    const bus = { SLUICE_BUS: 'kafka://127.0.0.1:9092' };
    expect(() => loadConfig({ ...bus, SLUICE_ROLE: 'frontend,reader' })).toThrow(/not "reader"/);
    expect(() => loadConfig({ ...bus, SLUICE_ROLE: 'all,worker' })).toThrow(/cannot be combined/);
    expect(() => loadConfig({ SLUICE_ROLE: 'worker' })).toThrow(/needs SLUICE_BUS/);
    expect(() => loadConfig({ SLUICE_ROLE: 'worker', SLUICE_BUS: 'http://k:9092' })).toThrow(
      /SLUICE_BUS must be kafka:\/\//,
    );
  });
});
