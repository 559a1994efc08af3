/**
 * Ends the run with the plain line CI reads ("Tests: N passed, N failed, N skipped"), which jest's own
 * summary ("Tests: 168 passed, 168 total") does not quite spell.
 */
class SummaryReporter {
  onRunComplete(_contexts, results) {
    const { numPassedTests, numFailedTests, numPendingTests, numTodoTests } = results;
    const line = `Tests: ${numPassedTests} passed, ${numFailedTests} failed, ${numPendingTests + numTodoTests} skipped\n`;
    // At exit, so it comes after everything jest's CLI still prints ("Ran all test suites.").
    process.once('exit', () => process.stderr.write(line));
  }
}

module.exports = SummaryReporter;
