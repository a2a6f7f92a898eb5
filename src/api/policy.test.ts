import { describe, expect, it } from 'vitest';
import { accessFor } from './policy.js';

describe('route policy', () => {
  it('looks up listed routes, with * for one segment', () => {
    expect(accessFor('GET', '/api/system/health')).toBe('PUBLIC');
    expect(accessFor('POST', '/api/users/login')).toBe('PUBLIC');
    expect(accessFor('POST', '/api/metadata/flatseries/query')).toBe('USER');
    expect(accessFor('POST', '/api/metadata/flatseries/query/more')).toBe('ADMINISTRATOR');
    expect(accessFor('POST', '/api/images')).toBe('USER');
    expect(accessFor('GET', '/api/users')).toBe('ADMINISTRATOR');
  });

  it('asks USER to read and ADMINISTRATOR for anything else that is not listed', () => {
    expect(accessFor('GET', '/api/anything/:id')).toBe('USER');
    expect(accessFor('HEAD', '/api/images/:id')).toBe('USER');
    expect(accessFor('HEAD', '/api/system/health')).toBe('PUBLIC');
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'])
      expect(accessFor(method, '/api/boxes/:id')).toBe('ADMINISTRATOR');
    expect(accessFor('DELETE', '/api/system/health')).toBe('ADMINISTRATOR');
  });
});
