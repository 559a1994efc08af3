/**
 * Ends the run with the plain line CI reads ("Tests: N passed, N failed, N skipped"), which jest's own
 * summary ("Tests: 168 passed, 168 total") does not quite spell.
 */
class SummaryReporter {
  onRunComplete(_contexts, results) {
    const { numPassedTests, numFailedTests, numPendingTests, numTodoTests } = results;
    // stderr, like jest's own summary, so this line really comes last.
    process.stderr.write(`\nTests: ${numPassedTests} passed, ${numFailedTests} failed, ${numPendingTests + numTodoTests} skipped\n`);
  }
}

module.exports = SummaryReporter;
