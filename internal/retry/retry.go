// Package retry is the one place where an error's kind decides what a
// reconciler does next: retry with backoff (the default), retry after a given
// delay, or stop until the object changes (terminal).
package retry

import (
	"errors"
	"time"
)

type terminalError struct{ err error }

func (e *terminalError) Error() string { return e.err.Error() }
func (e *terminalError) Unwrap() error { return e.err }

// Terminal marks err as one that retrying cannot fix (an invalid spec): the
// reconciler records it and waits for the object to change.
func Terminal(err error) error {
	if err == nil {
		return nil
	}
	return &terminalError{err: err}
}

// IsTerminal reports whether err, or an error it wraps, was marked Terminal.
func IsTerminal(err error) bool {
	var t *terminalError
	return errors.As(err, &t)
}

type afterError struct {
	err   error
	delay time.Duration
}

func (e *afterError) Error() string { return e.err.Error() }
func (e *afterError) Unwrap() error { return e.err }

// After marks err as one to retry after delay rather than with the work
// queue's exponential backoff.
func After(delay time.Duration, err error) error {
	if err == nil {
		return nil
	}
	return &afterError{err: err, delay: delay}
}

// Delay returns the delay of an error marked with After.
func Delay(err error) (time.Duration, bool) {
	var a *afterError
	if errors.As(err, &a) {
		return a.delay, true
	}
	return 0, false
}
