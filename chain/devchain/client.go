package devchain

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/metanode/metanode/chain"
	"github.com/metanode/metanode/events"
)

// Client is a node's chain.Chain on the devnet's chain service.
type Client struct {
	url  string
	self events.PeerID
	http *http.Client
	log  *slog.Logger

	// After is the last fact already taken (a restarted node's cursor);
	// Progress, if set, hears the cursor after each batch of facts is
	// handed over, to keep it.
	After    uint64
	Progress func(after uint64)
}

var _ chain.Chain = (*Client)(nil)

// NewClient talks to the chain service at url for the node self.
func NewClient(url string, self events.PeerID, log *slog.Logger) *Client {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Client{url: url, self: self, http: &http.Client{Timeout: 40 * time.Second}, log: log}
}

// CheckStake asks in the background; a chain that cannot be reached
// answers with Error set (the node asks again after stake_recheck).
func (c *Client) CheckStake(p events.PeerID, tx string, answer func(events.StakeChecked)) {
	go func() {
		ans, err := c.stake(p, tx)
		if err != nil {
			ans = events.StakeChecked{Peer: p, StakeTx: tx, Error: err.Error()}
		}
		answer(ans)
	}()
}

func (c *Client) stake(p events.PeerID, tx string) (events.StakeChecked, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var reply wireEvent
	if err := c.call(ctx, http.MethodPost, "/v1/stake", stakeRequest{Peer: peer.ID(p).String(), Tx: tx}, &reply); err != nil {
		return events.StakeChecked{}, err
	}
	ev, err := events.DecodeEvent(reply.Kind, reply.Body)
	if err != nil {
		return events.StakeChecked{}, fmt.Errorf("chain's stake answer: %w", err)
	}
	ans, ok := ev.(*events.StakeChecked)
	if !ok || ans.Peer != p || ans.StakeTx != tx {
		return events.StakeChecked{}, errors.New("chain's stake answer is about another stake")
	}
	return *ans, nil
}

// Watch long-polls the chain's facts from the first, re-trying every
// second while the chain cannot be reached.
func (c *Client) Watch(ctx context.Context, onFact func(events.Event), onIntent func(events.KVEntry)) error {
	after := c.After
	self := peer.ID(c.self).String()
	for ctx.Err() == nil {
		var reply factsReply
		err := c.call(ctx, http.MethodGet, fmt.Sprintf("/v1/facts?after=%d&wait=20s", after), nil, &reply)
		if err != nil {
			if ctx.Err() == nil {
				c.log.Warn("chain unreachable", "err", err)
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
			}
			continue
		}
		for _, f := range reply.Facts {
			after = max(after, f.Seq)
			switch {
			case f.Event != nil:
				ev, err := events.DecodeEvent(f.Event.Kind, f.Event.Body)
				if err != nil {
					c.log.Warn("chain fact undecodable", "seq", f.Seq, "err", err)
					continue
				}
				onFact(ev)
			case f.Intent != nil && f.Intent.By == self && onIntent != nil:
				onIntent(events.KVEntry{Amount: f.Intent.Amount, Intent: f.Intent.Intent})
			}
		}
		if len(reply.Facts) > 0 && c.Progress != nil {
			c.Progress(after)
		}
	}
	return ctx.Err()
}

// Broadcast hands a signed tx to the chain.
func (c *Client) Broadcast(ctx context.Context, tx chain.SignedTx) error {
	return c.call(ctx, http.MethodPost, "/v1/broadcast", tx, nil)
}

func (c *Client) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.url+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error string }
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			return fmt.Errorf("chain: %s", e.Error)
		}
		return fmt.Errorf("chain: %s", resp.Status)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(data, out)
}
