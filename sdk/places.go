package nefele

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"time"
)

// A place is a caller's entry in the queue of a lock, an election or a
// barrier. The SDK names each with a nonce of its own, so that a call that
// broke (its agent died) is made again in the same place rather than a
// second one, and so that a place left by a call given up can be removed.

// newNonce returns a fresh place nonce.
func newNonce() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// inPlace makes call until it succeeds, fails for good, or ctx is done,
// trying again while the agent is unavailable (the place is kept by its
// nonce). When it gives up, it removes the place in the background with
// remove, so that a place whose caller left does not stay in line.
func (c *Client) inPlace(ctx context.Context, call func() error, remove func(context.Context) error) error {
	for {
		err := call()
		if err == nil {
			return nil
		}
		if !retryable(err) || ctx.Err() != nil {
			go c.removePlace(remove)
			return err
		}
		select {
		case <-ctx.Done():
			go c.removePlace(remove)
			return err
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// removePlace calls remove until it succeeds or says there is no such
// place, for a minute at most (longer than any session's TTL would keep
// a place in line once its client stops).
func (c *Client) removePlace(remove func(context.Context) error) {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := remove(ctx)
		cancel()
		if err == nil || errors.Is(err, ErrNotHeld) || !retryable(err) {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
}
