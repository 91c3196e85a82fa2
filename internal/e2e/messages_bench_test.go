package e2e

// The mailbox benchmarks: Call round trips and one-way Send throughput
// between managed processes on two agents, beside raw TCP and Erlang in
// the same run and placement (see ipc_bench_test.go), and how long Send to
// a name takes to reach it again after its process moved to another node.

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"testing"

	"github.com/nefele/nefele/internal/testcluster"
	nefele "github.com/nefele/nefele/sdk"
)

// mailboxRole plays a mailbox end of a benchmark:
//
//	mb-serve NAME                      register NAME; answer calls with their body,
//	                                   and a call "count" with the messages sent since
//	mb-pingpong TARGET SIZE WARMUP N   time N calls of SIZE bytes
//	mb-send TARGET SIZE WARMUP N       time N sends of SIZE bytes, until a call
//	                                   "count" (behind them all) answers N
//	mb-claim NAME                      register NAME once it is free; answer calls
//	                                   with this process's GPID
func mailboxRole(args []string, nums []int) error {
	ctx := context.Background()
	c, err := nefele.Connect(ctx)
	if err != nil {
		return err
	}
	switch {
	case args[0] == "mb-serve" && len(args) == 2:
		if _, err := c.Register(ctx, args[1]); err != nil {
			return err
		}
		count := 0
		for {
			msg, err := c.Receive(ctx)
			if err != nil {
				return err
			}
			switch {
			case !msg.IsCall():
				count++
			case string(msg.Body) == "count":
				msg.Reply([]byte(strconv.Itoa(count)))
				count = 0
			default:
				msg.Reply(msg.Body)
			}
		}
	case args[0] == "mb-pingpong" && len(args) == 5:
		return printResult(mailboxPingPong(ctx, c, args[1], nums[2], nums[3], nums[4]))
	case args[0] == "mb-send" && len(args) == 5:
		if _, err := mailboxSend(ctx, c, args[1], nums[2], nums[3]); err != nil {
			return err
		}
		return printResult(mailboxSend(ctx, c, args[1], nums[2], nums[4]))
	case args[0] == "mb-claim" && len(args) == 2:
		for {
			_, err := c.Register(ctx, args[1])
			if err == nil {
				break
			}
			if !errors.Is(err, nefele.ErrNameInUse) {
				return err
			}
			time.Sleep(2 * time.Millisecond)
		}
		for {
			msg, err := c.Receive(ctx)
			if err != nil {
				return err
			}
			msg.Reply([]byte(c.SelfGPID()))
		}
	}
	return fmt.Errorf("unknown mailbox role %q", args)
}

func mailboxPingPong(ctx context.Context, c *nefele.Client, target string, size, warmup, n int) (ipcResult, error) {
	body := make([]byte, size)
	rtts := make(latencies, 0, n)
	for i := range warmup + n {
		start := time.Now()
		reply, err := c.Call(ctx, target, body)
		if err != nil {
			return ipcResult{}, fmt.Errorf("call %d: %w", i, err)
		}
		if len(reply) != size {
			return ipcResult{}, fmt.Errorf("call %d: a reply of %d bytes, sent %d", i, len(reply), size)
		}
		if i >= warmup {
			rtts = append(rtts, time.Since(start))
		}
	}
	return ipcResult{RTTs: rtts}, nil
}

// mailboxSend sends n messages of size bytes and then calls "count": its
// answer comes after the receiver took them all (one sender's messages
// arrive in order).
func mailboxSend(ctx context.Context, c *nefele.Client, target string, size, n int) (ipcResult, error) {
	body := make([]byte, size)
	start := time.Now()
	for i := range n {
		if err := c.Send(ctx, target, body, nefele.SendOptions{}); err != nil {
			return ipcResult{}, fmt.Errorf("send %d: %w", i, err)
		}
	}
	got, err := c.Call(ctx, target, []byte("count"))
	elapsed := time.Since(start)
	if err != nil {
		return ipcResult{}, err
	}
	if string(got) != strconv.Itoa(n) {
		return ipcResult{}, fmt.Errorf("the receiver counted %s messages, sent %d", got, n)
	}
	return ipcResult{Messages: int64(n), Bytes: int64(n * size), Elapsed: elapsed}, nil
}

// BenchmarkMailbox times, under each placement, Call round trips of 64 B
// and one-way 1 KiB Sends between managed processes on two agents (the
// receiver on n1 is end 0, the caller on n2 end 1), beside raw loopback
// TCP and Erlang distribution measured in the same run, in ipcRounds
// interleaved rounds.
func BenchmarkMailbox(b *testing.B) {
	agents := testcluster.Start(b, 2)
	c := agents[0].Client()
	for _, p := range append(ipcPlacements, unpinned) {
		b.Run(p.Name, func(b *testing.B) {
			p.skipUnless(b)
			ctx := ctxB(b)
			name := "mb-" + p.Name
			spec := benchRoleSpec(p, 0, "mb-serve "+name)
			spec.Node = "n1"
			srv, err := c.Spawn(ctx, spec, nefele.SpawnOptions{})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Stop(ctx, srv[0].Gpid, time.Second)
			e, err := startErlang(b, p)
			if err != nil {
				b.Logf("no Erlang figures: %v", err)
			}
			var call, tcp, erl latencies
			var oneWay, tcpOneWayRate, erlOneWay []float64
			for range ipcRounds {
				call = append(call, runManagedEnd(b, c, p, "n2", fmt.Sprintf("mb-pingpong %s 64 %d %d", name, ipcWarmups, ipcRoundTrips)).RTTs...)
				oneWay = append(oneWay, runManagedEnd(b, c, p, "n2", fmt.Sprintf("mb-send %s %d %d %d", name, ipcMessageSize, ipcOneWayWarmups, ipcOneWayMessages)).perSecond())
				tcp = append(tcp, tcpPingPong(b, p, 64, ipcRoundTrips)...)
				tcpOneWayRate = append(tcpOneWayRate, tcpOneWay(b, p, ipcMessageSize, ipcOneWayMessages))
				if e != nil {
					erl = append(erl, e.pingPong(b, 64, ipcRoundTrips)...)
					erlOneWay = append(erlOneWay, e.oneWay(b, ipcMessageSize, ipcOneWayMessages))
				}
			}
			reportRTT(b, "call", call)
			reportRTT(b, "tcp", tcp)
			b.ReportMetric(float64(call.median())/float64(tcp.median()), "call-x-tcp")
			b.ReportMetric(medianOf(oneWay), "send-msgs/s")
			b.ReportMetric(medianOf(tcpOneWayRate), "tcp-msgs/s")
			if e != nil {
				reportRTT(b, "erlang", erl)
				b.ReportMetric(float64(call.median())/float64(erl.median()), "call-x-erlang")
				b.ReportMetric(medianOf(erlOneWay), "erlang-msgs/s")
				b.ReportMetric(medianOf(oneWay)/medianOf(erlOneWay), "send-x-erlang")
			}
			b.ReportMetric(0, "ns/op")
		})
	}
}

// BenchmarkSendAfterMove moves a registered name's process to the other
// node (drain), five times, while the benchmark calls the name in a loop,
// and reports the gap between the last reply of the old process and the
// first of the new one: the time until delivery resumes. The new process
// starts before the old one is stopped (drain) and registers the name as
// soon as it is free.
func BenchmarkSendAfterMove(b *testing.B) {
	agents := testcluster.Start(b, 2)
	c := agents[0].Client()
	ctx := ctxB(b)
	if _, err := c.Spawn(ctx, benchRoleSpec(unpinned, 0, "mb-claim mover"), nefele.SpawnOptions{Name: "movers", Replicas: 1}); err != nil {
		b.Fatal(err)
	}
	var gaps latencies
	owner := func() (string, error) {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		g, err := c.Call(cctx, "mover", nil)
		return string(g), err
	}
	for range 5 {
		var from string
		for from == "" { // the current owner answers
			from, _ = owner()
		}
		node := get(b, c, from).Node
		done := make(chan error, 1)
		go func() { _, err := c.Drain(ctx, node); done <- err }()
		last := time.Now()
		for {
			g, err := owner()
			now := time.Now()
			if err == nil && g == from {
				last = now
				continue
			}
			if err == nil && g != from {
				gaps = append(gaps, now.Sub(last))
				break
			}
		}
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		if err := c.Undrain(ctx, node); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("gaps: %v", gaps)
	b.ReportMetric(ms(gaps.median()), "resume-median-ms")
	b.ReportMetric(ms(gaps.quantile(1)), "resume-max-ms")
	b.ReportMetric(0, "ns/op")
}
