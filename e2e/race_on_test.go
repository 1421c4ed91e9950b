//go:build race

package e2e

// raceDetector is true under -race, which makes argon2id about ten times
// slower: the attack drill then sends fewer guesses (the same checks).
const raceDetector = true
