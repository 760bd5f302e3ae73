// Ends every test run with one plain line that any CI can read: "tests: N passed, N failed, N skipped".
// Written at process exit, so it comes after jest's own closing lines.
import { writeSync } from 'node:fs';

export default class SummaryReporter {
  onRunComplete(_contexts, results) {
    const skipped = results.numPendingTests + results.numTodoTests;
    const failed = results.numFailedTests + results.numRuntimeErrorTestSuites;
    process.once('exit', () => writeSync(2, `tests: ${results.numPassedTests} passed, ${failed} failed, ${skipped} skipped\n`));
  }
}
