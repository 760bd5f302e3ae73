// One run: pure unit tests beside the code (operator/src/**), integration tests against the real
// control plane the global set-up starts (test/integration/**), and the attacks each defence is
// proven against (test/security/**).
export default {
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: { '^.+\\.ts$': ['ts-jest', { useESM: true }] },
  testEnvironment: '<rootDir>/test/jest-environment.js',
  testMatch: ['<rootDir>/operator/src/**/*.test.ts', '<rootDir>/test/integration/**/*.test.ts', '<rootDir>/test/security/**/*.test.ts'],
  globalSetup: '<rootDir>/test/global-setup.js',
  globalTeardown: '<rootDir>/test/global-teardown.js',
  testTimeout: 60_000,
  maxWorkers: 2,
  reporters: ['<rootDir>/test/summary-reporter.js', 'default'],
};
