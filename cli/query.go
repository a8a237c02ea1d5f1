package cli

import (
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/projections"
	"github.com/metanode/metanode/replay"
)

func queryCommand() *cli.Command {
	untilFlag := &cli.StringFlag{Name: "until", Usage: "as of this `SEQ|TIME` (default: the end of the log)", EnvVars: envName("until")}
	return &cli.Command{
		Name:  "query",
		Usage: "read the state a log folds to",
		Subcommands: []*cli.Command{
			{
				Name:   "rounds",
				Usage:  "every signing round's outcome, its threshold set and why",
				Flags:  []cli.Flag{logDirFlag(), jsonFlag(), untilFlag},
				Action: queryRounds,
			},
			{
				Name:   "blocks",
				Usage:  "the block list in force: peer, reason, evidence seqs, from, until",
				Flags:  []cli.Flag{logDirFlag(), jsonFlag(), untilFlag},
				Action: func(c *cli.Context) error { return queryBlocks(c, false) },
			},
			{
				Name:   "culprits",
				Usage:  "every block ever made, expired ones included, with its evidence",
				Flags:  []cli.Flag{logDirFlag(), jsonFlag(), untilFlag},
				Action: func(c *cli.Context) error { return queryBlocks(c, true) },
			},
			{
				Name:   "schedule",
				Usage:  "the clock, the current signing round and phase, keygen or regroup state, and what comes next",
				Flags:  []cli.Flag{logDirFlag(), jsonFlag(), untilFlag},
				Action: querySchedule,
			},
			{
				Name:   "peers",
				Usage:  "the peer table: every peer seen, its last ping, its stake, and whether it is in the peer list",
				Flags:  []cli.Flag{logDirFlag(), jsonFlag(), untilFlag},
				Action: queryPeers,
			},
		},
	}
}

// foldLog replays the log in --log up to --until into a fresh state.
func foldLog(c *cli.Context) (*projections.State, replay.Result, error) {
	until, err := parseUntil(c.String("until"))
	if err != nil {
		return nil, replay.Result{}, err
	}
	store, err := openReadOnly(c)
	if err != nil {
		return nil, replay.Result{}, err
	}
	defer store.Close()
	state := projections.NewState()
	res, err := replay.Run(store, state, until)
	return state, res, err
}

type peerRow struct {
	Peer      string `json:"peer"`
	Listed    bool   `json:"listed"`
	Seniority int    `json:"seniority,omitempty"` // 1 = most senior
	LastSeq   uint64 `json:"last_seq"`
	LastPing  string `json:"last_ping,omitempty"`
	State     string `json:"state"`
	StakeTx   string `json:"stake_tx"`
	Stake     string `json:"stake"` // "ok" or why it does not count
	Rejected  uint64 `json:"rejected_pings"`
	LastCheck string `json:"last_ping_verdict"`
}

func queryPeers(c *cli.Context) error {
	state, res, err := foldLog(c)
	if err != nil {
		return err
	}
	peers := state.Peers
	rank := map[events.PeerID]int{}
	for i, ps := range peers.List(nil) {
		rank[ps.ID] = i + 1
	}
	var rows []peerRow
	for _, ps := range peers.All() {
		row := peerRow{
			Peer: fmt.Sprintf("%x", ps.ID), Listed: rank[ps.ID] > 0, Seniority: rank[ps.ID],
			LastSeq: ps.LastSeq, State: ps.State.String(), StakeTx: ps.StakeTx,
			Stake: "ok", Rejected: ps.Rejected, LastCheck: ps.LastCheck.String(),
		}
		if ps.LastPing != 0 {
			row.LastPing = ps.LastPing.String()
		}
		if problem := peers.StakeProblem(ps); problem != "" {
			row.Stake = problem
		}
		if !peers.Live(ps) && row.Stake == "ok" {
			row.Stake = "ok (peer expired)"
		}
		rows = append(rows, row)
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, map[string]any{"as_of_seq": res.LastSeq, "peers": rows})
	}
	w := c.App.Writer
	fmt.Fprintf(w, "peer table as of seq %d: %d peers seen, %d in the peer list\n", res.LastSeq, len(rows), len(rank))
	for _, r := range rows {
		listed := "  -"
		if r.Listed {
			listed = fmt.Sprintf("%3d", r.Seniority)
		}
		last := r.LastPing
		if t, err := time.Parse(time.RFC3339Nano, last); err == nil {
			last = t.Format("2006-01-02 15:04:05")
		}
		fmt.Fprintf(w, "%s  %s  seq %-6d %-9s last ping %-19s  stake %s  (%d pings rejected, last: %s)\n",
			listed, short(r.Peer[max(0, len(r.Peer)-12):]), r.LastSeq, r.State, last, r.Stake, r.Rejected, r.LastCheck)
	}
	return nil
}

type roundRow struct {
	Round   int64    `json:"round"`
	Start   string   `json:"start"`
	Outcome string   `json:"outcome"`
	Reason  string   `json:"reason,omitempty"`
	M0      string   `json:"m0,omitempty"`
	Set     []string `json:"threshold_set,omitempty"`
}

func queryRounds(c *cli.Context) error {
	state, _, err := foldLog(c)
	if err != nil {
		return err
	}
	epoch := state.Summary.Params().SigningEpoch
	history := state.Rounds.History()
	if cur := state.Rounds.Current(); cur != nil {
		sum := projections.RoundSummary{Number: cur.Number, Outcome: cur.Outcome + " (current)", Reason: cur.Reason}
		if cur.Threshold != nil && cur.Threshold.Found {
			sum.M0, sum.Set = cur.Threshold.M0, cur.Threshold.Set
		}
		history = append(history, sum)
	}
	var rows []roundRow
	for _, h := range history {
		row := roundRow{Round: h.Number, Start: events.Time(h.Number * int64(epoch)).String(), Outcome: h.Outcome, Reason: h.Reason}
		if len(h.Set) > 0 {
			row.M0 = h.M0.String()
			for _, p := range h.Set {
				row.Set = append(row.Set, fmt.Sprintf("%x", []byte(p)))
			}
		}
		rows = append(rows, row)
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, rows)
	}
	for i, row := range rows {
		set := ""
		if len(history[i].Set) > 0 {
			set = "  set " + peers(history[i].Set)
		}
		reason := ""
		if row.Reason != "" {
			reason = " (" + row.Reason + ")"
		}
		fmt.Fprintf(c.App.Writer, "%d  %s  %s%s%s\n", row.Round, row.Start, row.Outcome, reason, set)
	}
	return nil
}

type blockRow struct {
	Peer     string   `json:"peer"`
	Reason   string   `json:"reason"`
	Evidence []uint64 `json:"evidence_seqs"`
	Round    int64    `json:"round,omitempty"`
	From     string   `json:"from"`
	Until    string   `json:"until"`
	Note     string   `json:"note,omitempty"`
}

func queryBlocks(c *cli.Context, all bool) error {
	state, _, err := foldLog(c)
	if err != nil {
		return err
	}
	list := state.Blocks.Active()
	if all {
		list = state.Blocks.Culprits()
	}
	var rows []blockRow
	for _, b := range list {
		rows = append(rows, blockRow{Peer: fmt.Sprintf("%x", []byte(b.Peer)), Reason: b.Reason.String(), Evidence: b.Evidence,
			Round: b.Round, From: b.From.String(), Until: b.Until.String(), Note: b.Note})
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, rows)
	}
	if len(rows) == 0 {
		fmt.Fprintln(c.App.Writer, "none")
	}
	for i, b := range list {
		fmt.Fprintf(c.App.Writer, "%s  %-16s  from %s until %s  evidence seqs %v  %s\n",
			b.Peer.Short(), b.Reason, b.From.Std().Format(time.DateTime), b.Until.Std().Format(time.DateTime), b.Evidence, rows[i].Note)
	}
	return nil
}

func querySchedule(c *cli.Context) error {
	state, res, err := foldLog(c)
	if err != nil {
		return err
	}
	params := state.Summary.Params()
	now := state.Summary.LastTick
	out := map[string]any{"as_of_seq": res.LastSeq, "clock": now.String(), "node_state": state.Rounds.NodeState().String()}
	phase := state.Rounds.Phase()
	if cur := state.Rounds.Current(); cur != nil {
		out["round"], out["round_phase"], out["round_outcome"] = cur.Number, phase, cur.Outcome
	}
	cm := state.Committees
	if busy, ok := cm.NodeState(); ok {
		out["node_state"] = busy.String()
	}
	out["key_locked"] = cm.Locked()
	out["keygen_until"] = params.KeygenUntil.String()
	next, regroup := cm.NextAttempt()
	kind := "keygen"
	if regroup {
		kind = "regroup"
	}
	out["next_attempt"], out["next_attempt_kind"] = next.String(), kind
	if a := cm.Current(); a != nil {
		out["attempt"] = map[string]any{"regroup": a.Regroup, "epoch": a.Epoch, "outcome": a.Outcome, "commits": len(a.Commits), "participants": len(a.Participants())}
	}
	if key, ok := state.Keys.Current(); ok {
		out["key_id"], out["vault_address"], out["committee_size"] = key.KeyID.String(), key.Address, len(key.SharePoints)
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, out)
	}
	rows := [][2]string{
		{"clock", now.String()},
		{"node state", fmt.Sprint(out["node_state"])},
	}
	if cur := state.Rounds.Current(); cur != nil {
		rows = append(rows, [2]string{"signing round", fmt.Sprintf("%d, %s phase, %s", cur.Number, phase, cur.Outcome)})
	}
	if key, ok := state.Keys.Current(); ok {
		rows = append(rows, [2]string{"key", fmt.Sprintf("%s, vault %s, committee of %d", short(key.KeyID.String()), key.Address, len(key.SharePoints))})
	} else {
		rows = append(rows, [2]string{"key", "none yet"})
	}
	lock := "keygen until " + params.KeygenUntil.String()
	if cm.Locked() {
		lock = "locked since " + params.KeygenUntil.String()
	}
	rows = append(rows, [2]string{"key lock", lock}, [2]string{"next " + kind, next.String()})
	if a := cm.Current(); a != nil {
		rows = append(rows, [2]string{"attempt", fmt.Sprintf("%s epoch %d: %s, %d of %d commits", kind, a.Epoch, a.Outcome, len(a.Commits), len(a.Participants()))})
	}
	table(c.App.Writer, rows)
	return nil
}
