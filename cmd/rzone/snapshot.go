package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rzonedb/rzone/backup"
	"github.com/rzonedb/rzone/client"
	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/snapfile"
	"github.com/rzonedb/rzone/zone"
	"github.com/spf13/cobra"
)

// snapshotVerbs are backup and restore: save one group or every group of a
// running cluster to files, check a file, and build the data folders of a
// new cluster from a backup folder.
func snapshotVerbs(f *clientFlags) *cobra.Command {
	snap := &cobra.Command{Use: "snapshot", Short: "Back a cluster up to files and restore them into a new cluster"}
	var zoneName string
	var meta, all bool
	save := &cobra.Command{
		Use:   "save FILE --zone ZONE | --meta | --all DIR",
		Short: "Save one Raft group (or, with --all, every group) from its leader at a known applied index",
		Long: `Save a Raft group's state from its leader: the leader runs a barrier, reads its
state at its applied index and streams it with a header (format version, cluster
id, group, index, term, time, SHA-256 of the body). The file is written as
FILE.part, checked whole, then renamed to FILE.

--all DIR saves the meta group and every zone, one file each, and a
manifest.json. Each group is saved at its own index; the save is refused if the
route table changed while it ran (a shard moved, a zone failed over), so every
shard's data is in exactly one zone's file. Needs an admin token. Without
--timeout, a save may take up to an hour.`,
		Example: `  rzone snapshot save a.snap --zone A
  rzone snapshot save meta.snap --meta
  rzone snapshot save --all backup-2026-12-06`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			n := 0
			for _, b := range []bool{zoneName != "", meta, all} {
				if b {
					n++
				}
			}
			if n != 1 {
				return usage(errors.New("give exactly one of --zone ZONE, --meta, --all"))
			}
			c, err := f.client()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), snapshotTimeout(cmd, f))
			defer cancel()
			if all {
				m, err := saveAll(ctx, cmd.ErrOrStderr(), c, args[0])
				if err != nil {
					return err
				}
				rows := make([][]string, 0, len(m.Groups))
				for _, g := range m.Groups {
					rows = append(rows, []string{g.Group, g.File, strconv.FormatUint(g.Index, 10), strconv.FormatUint(g.Term, 10), g.SHA256[:16]})
				}
				return f.print(cmd.OutOrStdout(), m, []string{"GROUP", "FILE", "INDEX", "TERM", "SHA256"}, rows)
			}
			group := "meta"
			if zoneName != "" {
				group = "zone/" + zoneName
			}
			h, info, err := saveGroup(ctx, cmd.ErrOrStderr(), c, group, args[0])
			if err != nil {
				return err
			}
			out := struct {
				snapfile.Header
				File        string `json:"file"`
				StateDigest string `json:"state_digest"`
			}{h, args[0], info.StateDigest}
			return f.print(cmd.OutOrStdout(), out, []string{"GROUP", "INDEX", "TERM", "BYTES", "SHA256", "FILE"},
				[][]string{{h.Group, strconv.FormatUint(h.Index, 10), strconv.FormatUint(h.Term, 10), strconv.FormatInt(h.Size, 10), h.SHA256[:16], args[0]}})
		},
	}
	save.Flags().StringVar(&zoneName, "zone", "", "save this zone's group")
	save.Flags().BoolVar(&meta, "meta", false, "save the meta group (routes, zones, config, tokens, batch runs)")
	save.Flags().BoolVar(&all, "all", false, "save every group into the folder DIR, with a manifest.json")

	verify := &cobra.Command{
		Use: "verify FILE...", Short: "Check backup files whole: header, format version, size and SHA-256",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var hs []snapfile.Header
			var rows [][]string
			for _, p := range args {
				h, err := snapfile.Verify(p)
				if err != nil {
					return err
				}
				hs = append(hs, h)
				rows = append(rows, []string{p, h.Group, strconv.FormatUint(h.Index, 10), strconv.FormatUint(h.Term, 10), h.ClusterID, h.Created.Format(time.RFC3339)})
			}
			return f.print(cmd.OutOrStdout(), hs, []string{"FILE", "GROUP", "INDEX", "TERM", "CLUSTER", "CREATED"}, rows)
		},
	}

	var from, dataDir, logStore string
	var nodeSpecs []string
	restore := &cobra.Command{
		Use:   "restore --from DIR --data-dir OUT --node ID,ZONE,RAFT_ADDR,HTTP_ADDR ...",
		Short: "Build the data folders of a new cluster from a backup folder",
		Long: `Build one data folder per node, OUT/ID, for a NEW cluster (a new cluster id)
holding the state of the backup folder that "rzone snapshot save --all" wrote.
Every file is checked whole (header, version, size, SHA-256, manifest) before
anything is written; existing non-empty folders are never written over.

Give every node of the new cluster with --node ID,ZONE,RAFT_ADDR,HTTP_ADDR:
each zone of the backup needs at least one. Then start each node with
--data-dir OUT/ID, its zone, those addresses and a gossip address (or run
"rzone dev --data-dir OUT" when the nodes are dev's a1..c3 on its ports). The
cluster is already initialized: do not run "rzone cluster init". Its tokens
are the backup's.`,
		Example: `  rzone snapshot restore --from backup-2026-12-06 --data-dir /var/lib/rzone-new \
    --node a1,A,10.0.0.1:7000,10.0.0.1:7070 --node b1,B,10.0.0.2:7000,10.0.0.2:7070 \
    --node c1,C,10.0.0.3:7000,10.0.0.3:7070`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if from == "" || dataDir == "" || len(nodeSpecs) == 0 {
				return usage(errors.New("--from, --data-dir and at least one --node are required"))
			}
			var nodes []backup.RestoreNode
			for _, s := range nodeSpecs {
				p := strings.Split(s, ",")
				if len(p) != 4 {
					return usage(fmt.Errorf("--node %q: want ID,ZONE,RAFT_ADDR,HTTP_ADDR", s))
				}
				nodes = append(nodes, backup.RestoreNode{ID: p[0], Zone: p[1], RaftAddr: p[2], HTTPAddr: p[3]})
			}
			kind, err := zone.ParseLogStoreKind(logStore)
			if err != nil {
				return usage(fmt.Errorf("--raft-log-store: %w", err))
			}
			res, err := backup.Restore(backup.RestoreConfig{From: from, DataDir: dataDir, Nodes: nodes, Progress: cmd.ErrOrStderr(), LogStore: kind})
			if err != nil {
				return err
			}
			var rows [][]string
			for _, g := range res.Groups {
				rows = append(rows, []string{g.Group, strconv.FormatUint(g.Index, 10), strings.Join(g.Nodes, ",")})
			}
			return f.print(cmd.OutOrStdout(), res, []string{"GROUP", "INDEX", "VOTERS"}, rows)
		},
	}
	restore.Flags().StringVar(&from, "from", "", "backup folder (manifest.json and the groups' files)")
	restore.Flags().StringVar(&dataDir, "data-dir", "", "folder that receives one data folder per node (OUT/ID)")
	restore.Flags().StringArrayVar(&nodeSpecs, "node", nil, "a node of the new cluster: ID,ZONE,RAFT_ADDR,HTTP_ADDR (repeat)")
	restore.Flags().StringVar(&logStore, "raft-log-store", string(zone.LogStoreWAL), raftLogStoreUsage)
	snap.AddCommand(save, verify, restore)
	return snap
}

// snapshotTimeout is --timeout when given, else an hour: a backup of a
// large zone takes longer than a request.
func snapshotTimeout(cmd *cobra.Command, f *clientFlags) time.Duration {
	if fl := cmd.Flags().Lookup("timeout"); fl != nil && fl.Changed {
		return f.timeout
	}
	return time.Hour
}

// saveGroup saves group to path: into path.part, checked whole with
// snapfile.Verify, then renamed. Progress goes to progress once a second.
func saveGroup(ctx context.Context, progress io.Writer, c *client.Client, group, path string) (snapfile.Header, client.SnapshotInfo, error) {
	part := path + ".part"
	out, err := os.OpenFile(part, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return snapfile.Header{}, client.SnapshotInfo{}, err
	}
	defer os.Remove(part) // gone once renamed
	cw := &countWriter{w: out}
	stop := make(chan struct{})
	done := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				fmt.Fprintf(progress, "%s: %s received in %s\n", group, humanBytes(cw.n.Load()), time.Since(start).Round(time.Second))
			}
		}
	}()
	info, err := c.SaveSnapshot(ctx, group, cw)
	close(stop)
	<-done
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return snapfile.Header{}, info, fmt.Errorf("save %s: %w", group, err)
	}
	h, err := snapfile.Verify(part)
	if err != nil {
		return h, info, fmt.Errorf("save %s: the received file does not check out: %w", group, err)
	}
	if h.Group != group {
		return h, info, fmt.Errorf("save %s: the server sent %s", group, h.Group)
	}
	if err := os.Rename(part, path); err != nil {
		return h, info, err
	}
	fmt.Fprintf(progress, "saved %s at index %d (term %d, %s) to %s in %s\n", group, h.Index, h.Term, humanBytes(h.Size), path, time.Since(start).Round(time.Millisecond))
	return h, info, nil
}

// saveAll saves the meta group, then every zone it lists, into dir, and
// writes the manifest last. The meta state must show no failover or shard
// move under way, and the route table's epoch must be the same after the
// zones were saved as in the saved meta state.
func saveAll(ctx context.Context, progress io.Writer, c *client.Client, dir string) (snapfile.Manifest, error) {
	var m snapfile.Manifest
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return m, usage(fmt.Errorf("%s exists and is not empty", dir))
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return m, err
	}
	m = snapfile.Manifest{Version: snapfile.Version, Created: time.Now().UTC()}
	add := func(h snapfile.Header, info client.SnapshotInfo, file string) {
		m.Groups = append(m.Groups, snapfile.ManifestEntry{Group: h.Group, File: file, Index: h.Index, Term: h.Term,
			SHA256: h.SHA256, StateDigest: info.StateDigest})
	}
	metaFile := snapfile.FileName("meta")
	h, info, err := saveGroup(ctx, progress, c, "meta", filepath.Join(dir, metaFile))
	if err != nil {
		return m, err
	}
	m.ClusterID = h.ClusterID
	add(h, info, metaFile)
	st, err := savedMeta(filepath.Join(dir, metaFile))
	if err != nil {
		return m, err
	}
	for _, z := range st.Zones {
		if z.PhaseOf() != fsm.PhaseNormal {
			return m, fmt.Errorf("zone %s is %s: a backup now could not be restored; save again once it is normal", z.Name, z.PhaseOf())
		}
	}
	for i, s := range st.Shards {
		if s.Target != "" {
			return m, fmt.Errorf("shard %d is moving to %s: a backup now could not be restored; save again once it has moved", i, s.Target)
		}
	}
	for _, z := range st.Zones {
		group := "zone/" + z.Name
		file := snapfile.FileName(group)
		h, info, err := saveGroup(ctx, progress, c, group, filepath.Join(dir, file))
		if err != nil {
			return m, err
		}
		if h.ClusterID != m.ClusterID {
			return m, fmt.Errorf("%s came from cluster %q, the meta group from %q", group, h.ClusterID, m.ClusterID)
		}
		add(h, info, file)
	}
	// The meta leader's state once more (a linearizable read, unlike a
	// node's replica of the route table, which may lag).
	var again bytes.Buffer
	if _, err := c.SaveSnapshot(ctx, "meta", &again); err != nil {
		return m, fmt.Errorf("read the route table after the save: %w", err)
	}
	r := bufio.NewReader(&again)
	h, err = snapfile.ReadHeader(r)
	if err != nil {
		return m, fmt.Errorf("read the route table after the save: %w", err)
	}
	_, now, err := fsm.DecodeMetaSnapshot(io.LimitReader(r, h.Size))
	if err != nil {
		return m, fmt.Errorf("read the route table after the save: %w", err)
	}
	if now.Epoch != st.Epoch {
		return m, fmt.Errorf("the route table changed while the zones were saved (epoch %d, now %d): a shard may be in two files or none; save again", st.Epoch, now.Epoch)
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return m, err
	}
	tmp := filepath.Join(dir, snapfile.ManifestFile+".part")
	if err := os.WriteFile(tmp, append(data, '\n'), 0o600); err != nil {
		return m, err
	}
	return m, os.Rename(tmp, filepath.Join(dir, snapfile.ManifestFile))
}

// savedMeta reads the meta state out of a saved meta group file.
func savedMeta(path string) (fsm.MetaState, error) {
	_, body, err := snapfile.Open(path)
	if err != nil {
		return fsm.MetaState{}, err
	}
	defer body.Close()
	_, st, err := fsm.DecodeMetaSnapshot(body)
	return st, err
}

// countWriter counts what passes through it, for progress lines.
type countWriter struct {
	w io.Writer
	n atomic.Int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
