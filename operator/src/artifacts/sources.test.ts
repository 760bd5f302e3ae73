import { describe, expect, it } from '@jest/globals';
import { hostAllowed } from './sources.js';

describe('hostAllowed', () => {
  it.each([
    ['any host without patterns', 'data.example.com', [], true],
    ['an exact name, in any case', 'Data.Example.com', ['data.example.com'], true],
    ['a name with the root dot', 'data.example.com.', ['data.example.com'], true],
    ['a subdomain of a wildcard', 'eu.cdn.example.com', ['*.example.com'], true],
    ['not the wildcard domain itself', 'example.com', ['*.example.com'], false],
    ['not a name that only ends the same', 'evil-example.com', ['*.example.com'], false],
    ['not another host', 'metadata.google.internal', ['data.example.com'], false],
    ['an IPv6 literal as URL.hostname writes it', '[::1]', ['::1'], true],
    ['an IP literal only when listed', '169.254.169.254', ['data.example.com', '*.example.com'], false],
  ])('%s', (_title, host, patterns, allowed) => {
    expect(hostAllowed(host, patterns)).toBe(allowed);
  });
});
