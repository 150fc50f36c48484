//go:build race

package webhook_test

// raceDetector is true when the tests run with -race, which makes the handler several times
// slower.
const raceDetector = true
