package controller

import (
	"context"
	"sync"
)

// Manager runs several Runners together.
type Manager struct {
	runners []*Runner
}

// Add registers runners; call it before Start.
func (m *Manager) Add(runners ...*Runner) {
	m.runners = append(m.runners, runners...)
}

// Start runs every runner in the background and returns at once: the
// caller (the server) does not wait for the controllers' caches to sync.
// The runners stop when ctx is done; the returned function blocks until
// they all have (every worker has finished its current key).
func (m *Manager) Start(ctx context.Context) (wait func()) {
	var wg sync.WaitGroup
	for _, r := range m.runners {
		wg.Go(func() { r.Run(ctx) })
	}
	return wg.Wait
}
