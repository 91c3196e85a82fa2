package cli

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/spf13/cobra"

	nefele "github.com/nefele/nefele/sdk"
)

func (c *cli) newKVCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "kv get|put|del|ls|watch",
		Short: "Read and write the cluster's key-value store",
		Long: `kv reads and writes the tenant's key-value store, kept in the cluster's
etcd: every operation is linearizable, from any agent. Run from inside a
process that Nefele manages, put --bind makes a key live only as long as
that process.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErr(cmd, "kv: missing subcommand: get, put, del, ls or watch")
			}
			return usageErr(cmd, "kv: unknown subcommand %q: use get, put, del, ls or watch", args[0])
		},
		RunE: func(*cobra.Command, []string) error { return nil },
	}
	cmd.AddCommand(c.newKVGetCmd(), c.newKVPutCmd(), c.newKVDelCmd(), c.newKVLsCmd(), c.newKVWatchCmd())
	return cmd
}

// keyJSON is the JSON form of a key.
type keyJSON struct {
	Key            string `json:"key"`
	Value          string `json:"value"`
	Revision       int64  `json:"revision"`
	CreateRevision int64  `json:"create_revision"`
	Owner          string `json:"owner"`
}

func toKeyJSON(kv *nefele.KeyValue) keyJSON {
	return keyJSON{Key: kv.GetKey(), Value: string(kv.GetValue()), Revision: kv.GetRevision(),
		CreateRevision: kv.GetCreateRevision(), Owner: kv.GetOwner()}
}

func keyArgs(n int, usage string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageErr(cmd, "kv %s: want %s", cmd.Name(), usage)
		}
		return nil
	}
}

func (c *cli) newKVGetCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "get KEY",
		Short: "Print the value of a key",
		Long:  "get prints the value of KEY as it is stored (-o json: the key's record). A missing key exits 1 with `not found: KEY`.",
		Args:  keyArgs(1, "one KEY, like: nefele kv get config/db-url"),
		RunE: c.withClient(func(ctx context.Context, client *nefele.Client, args []string) error {
			kv, err := client.KV().Get(ctx, args[0])
			if err != nil {
				return err
			}
			if c.json() {
				return writeJSON(c.stdout, toKeyJSON(kv))
			}
			_, err = c.stdout.Write(kv.GetValue())
			if err == nil && !strings.HasSuffix(string(kv.GetValue()), "\n") && len(kv.GetValue()) > 0 {
				_, err = io.WriteString(c.stdout, "\n")
			}
			return err
		}),
	}
}

func (c *cli) newKVPutCmd() *cobra.Command {
	var bind bool
	cmd := &cobra.Command{
		Use:   "put KEY VALUE|-",
		Short: "Write a key",
		Long: `put writes VALUE to KEY (- reads the value from stdin). With --bind, run
from inside a managed process, the key is deleted when that process ends.
-o json prints the revision of the write.`,
		Args: keyArgs(2, "KEY and VALUE (or - for stdin), like: nefele kv put config/db-url postgres://db"),
		RunE: c.withClient(func(ctx context.Context, client *nefele.Client, args []string) error {
			value := []byte(args[1])
			if args[1] == "-" {
				b, err := io.ReadAll(c.stdin)
				if err != nil {
					return fmt.Errorf("read the value from stdin: %w", err)
				}
				value = b
			}
			var opts []nefele.PutOption
			if bind {
				opts = append(opts, nefele.BoundToCaller())
			}
			rev, err := client.KV().Put(ctx, args[0], value, opts...)
			if err != nil {
				return err
			}
			if c.json() {
				return writeJSON(c.stdout, map[string]int64{"revision": rev})
			}
			return nil
		}),
	}
	cmd.Flags().BoolVar(&bind, "bind", false, "delete the key when the calling managed process ends")
	return cmd
}

func (c *cli) newKVDelCmd() *cobra.Command {
	var prefix bool
	cmd := &cobra.Command{
		Use:   "del KEY",
		Short: "Delete a key, or the keys under a prefix",
		Long:  "del deletes KEY (with --prefix, every key that starts with it). A missing key exits 1 with `not found: KEY`; --prefix prints how many went.",
		Args:  keyArgs(1, "one KEY, like: nefele kv del config/db-url"),
		RunE: c.withClient(func(ctx context.Context, client *nefele.Client, args []string) error {
			if prefix {
				n, err := client.KV().DeletePrefix(ctx, args[0])
				if err != nil {
					return err
				}
				if c.json() {
					return writeJSON(c.stdout, map[string]int64{"deleted": n})
				}
				_, err = fmt.Fprintln(c.stdout, n)
				return err
			}
			ok, err := client.KV().Delete(ctx, args[0])
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("%w: %s", nefele.ErrKeyNotFound, args[0])
			}
			return nil
		}),
	}
	cmd.Flags().BoolVar(&prefix, "prefix", false, "delete every key that starts with KEY")
	return cmd
}

func (c *cli) newKVLsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "ls [PREFIX]",
		Short: "List keys",
		Long: `ls lists the keys that start with PREFIX (all without one), in key order:
KEY, VALUE (printable ones, shortened), REVISION and OWNER (the GPID whose
life a key is bound to). -o json prints an array of records.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageErr(cmd, "kv ls: want at most one PREFIX")
			}
			return nil
		},
		RunE: c.withClient(func(ctx context.Context, client *nefele.Client, args []string) error {
			prefix := ""
			if len(args) == 1 {
				prefix = args[0]
			}
			kvs, err := client.KV().List(ctx, prefix)
			if err != nil {
				return err
			}
			if c.json() {
				out := make([]keyJSON, 0, len(kvs))
				for _, kv := range kvs {
					out = append(out, toKeyJSON(kv))
				}
				return writeJSON(c.stdout, out)
			}
			t := newTable(c.stdout, "KEY", "VALUE", "REVISION", "OWNER")
			for _, kv := range kvs {
				t.row(kv.GetKey(), printable(kv.GetValue()), strconv.FormatInt(kv.GetRevision(), 10), dash(kv.GetOwner()))
			}
			return t.flush()
		}),
	}
}

// printable shortens value for a table, or says how long it is when it is
// not text.
func printable(value []byte) string {
	s := string(value)
	if !utf8.ValidString(s) || strings.ContainsAny(s, "\x00\t\r\n") {
		return fmt.Sprintf("(%d bytes)", len(value))
	}
	return truncate(s, 40)
}

func (c *cli) newKVWatchCmd() *cobra.Command {
	var prefix bool
	var from int64
	cmd := &cobra.Command{
		Use:   "watch KEY",
		Short: "Print the changes of a key as they happen",
		Long: `watch prints a line for every change of KEY (with --prefix, of every key
that starts with it) until Ctrl-C: "put KEY VALUE" or "del KEY", each with
the revision. --from REV replays the changes since that revision first.
-o json prints one record per line.`,
		Args: keyArgs(1, "one KEY, like: nefele kv watch config/ --prefix"),
		RunE: c.withClient(func(ctx context.Context, client *nefele.Client, args []string) error {
			ctx, stop := interruptible(ctx)
			defer stop()
			err := client.KV().Watch(ctx, args[0], nefele.WatchOptions{Prefix: prefix, FromRevision: from}, func(evs []*nefele.KVEvent) error {
				for _, e := range evs {
					if err := c.printKVEvent(e); err != nil {
						return err
					}
				}
				return nil
			})
			if ctx.Err() != nil {
				return nil
			}
			return err
		}),
	}
	cmd.Flags().BoolVar(&prefix, "prefix", false, "watch every key that starts with KEY")
	cmd.Flags().Int64Var(&from, "from", 0, "replay the changes since this `REVISION` first")
	return cmd
}

func (c *cli) printKVEvent(e *nefele.KVEvent) error {
	kv := e.GetKv()
	if c.json() {
		return writeJSONLine(c.stdout, map[string]any{"deleted": e.GetDeleted(), "kv": toKeyJSON(kv)})
	}
	if e.GetDeleted() {
		_, err := fmt.Fprintf(c.stdout, "%d del %s\n", kv.GetRevision(), kv.GetKey())
		return err
	}
	_, err := fmt.Fprintf(c.stdout, "%d put %s %s\n", kv.GetRevision(), kv.GetKey(), printable(kv.GetValue()))
	return err
}

func (c *cli) newNamesCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "names [PREFIX]",
		Short: "List registered names",
		Long: `names lists the names that processes registered (the SDK's Register), with
the GPID and node of the process that holds each: NAME, GPID, NODE. A name
is released when its process ends. -o json prints an array of records.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageErr(cmd, "names: want at most one PREFIX")
			}
			return nil
		},
		RunE: c.withClient(func(ctx context.Context, client *nefele.Client, args []string) error {
			prefix := ""
			if len(args) == 1 {
				prefix = args[0]
			}
			names, err := client.Names(ctx, prefix)
			if err != nil {
				return err
			}
			if c.json() {
				out := make([]map[string]string, 0, len(names))
				for _, n := range names {
					out = append(out, map[string]string{"name": n.GetName(), "gpid": n.GetGpid(), "node": n.GetNode()})
				}
				return writeJSON(c.stdout, out)
			}
			t := newTable(c.stdout, "NAME", "GPID", "NODE")
			for _, n := range names {
				t.row(n.GetName(), n.GetGpid(), n.GetNode())
			}
			return t.flush()
		}),
	}
}

func (c *cli) newPortsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "ports [SERVICE]",
		Short: "List the named ports that accept connections",
		Long: `ports lists the live endpoints of the processes' named ports (run --port
NAME): SERVICE (the group, else the name, else the GPID), PORT, GPID, NODE
and ADDRESS. An endpoint is listed once its port accepts connections, and
goes when its process ends. -o json prints an array of records.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageErr(cmd, "ports: want at most one SERVICE")
			}
			return nil
		},
		RunE: c.withClient(func(ctx context.Context, client *nefele.Client, args []string) error {
			service := ""
			if len(args) == 1 {
				service = args[0]
			}
			eps, err := client.Ports(ctx, service)
			if err != nil {
				return err
			}
			if c.json() {
				out := make([]map[string]string, 0, len(eps))
				for _, e := range eps {
					out = append(out, map[string]string{"service": e.GetService(), "port": e.GetPort(),
						"gpid": e.GetGpid(), "node": e.GetNode(), "address": e.GetAddress()})
				}
				return writeJSON(c.stdout, out)
			}
			t := newTable(c.stdout, "SERVICE", "PORT", "GPID", "NODE", "ADDRESS")
			for _, e := range eps {
				t.row(e.GetService(), e.GetPort(), e.GetGpid(), e.GetNode(), e.GetAddress())
			}
			return t.flush()
		}),
	}
}
