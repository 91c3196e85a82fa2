// Command chat is a chat room whose members may run on any node: the room
// registers a name, members join it with a Call, send it each line they
// read, and print what the room sends them. No address is ever wired by
// hand; a member that dies leaves the room by itself (the room monitors it).
//
//	nefele run --name room -- chat room lobby
//	nefele exec -i -- chat member lobby alice     # type lines; see the others'
//	nefele exec -i --node b -- chat member lobby bob
package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strings"
	"sync"

	nefele "github.com/nefele/nefele/sdk"
)

func main() {
	ctx := context.Background()
	var err error
	switch {
	case len(os.Args) == 3 && os.Args[1] == "room":
		err = room(ctx, os.Args[2])
	case len(os.Args) == 4 && os.Args[1] == "member":
		err = member(ctx, os.Args[2], os.Args[3])
	default:
		fmt.Fprintln(os.Stderr, "usage: chat room ROOM | chat member ROOM NICK")
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "chat:", err)
		os.Exit(1)
	}
}

// room keeps the members, by GPID, and sends each line to all of them.
func room(ctx context.Context, name string) error {
	c, err := nefele.Connect(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Register(ctx, name); err != nil {
		return err
	}
	fmt.Println("room", name, "open")
	var mu sync.Mutex
	members := map[string]string{} // GPID → nick
	broadcast := func(line string) {
		mu.Lock()
		to := make([]string, 0, len(members))
		for g := range members {
			to = append(to, g)
		}
		mu.Unlock()
		for _, g := range to {
			// A member that cannot keep up misses lines rather than
			// stalling the room.
			if err := c.Send(ctx, g, []byte(line), nefele.SendOptions{FailFast: true}); err != nil {
				fmt.Println("to", g+":", err)
			}
		}
	}
	for {
		msg, err := c.Receive(ctx)
		if err != nil {
			return err
		}
		text := string(msg.Body)
		if nick, ok := strings.CutPrefix(text, "join "); ok && msg.IsCall() {
			mu.Lock()
			members[msg.From] = nick
			n := len(members)
			mu.Unlock()
			msg.Reply(fmt.Appendf(nil, "welcome %s, %d here", nick, n))
			broadcast("* " + nick + " joined")
			go func(g string) { // leave when the member ends, however
				<-c.Monitor(ctx, g)
				mu.Lock()
				delete(members, g)
				mu.Unlock()
				broadcast("* " + nick + " left")
			}(msg.From)
			continue
		}
		mu.Lock()
		nick := members[msg.From]
		mu.Unlock()
		if nick != "" {
			broadcast(nick + ": " + text)
		}
	}
}

// member joins the room, prints what it sends, and sends it each line of
// stdin; at the end of stdin it stays, listening, until it is stopped.
func member(ctx context.Context, roomName, nick string) error {
	c, err := nefele.Connect(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.OpenMailbox(ctx, nefele.MailboxOptions{}); err != nil {
		return err
	}
	welcome, err := c.Call(ctx, roomName, []byte("join "+nick))
	if err != nil {
		return err
	}
	fmt.Println(string(welcome))
	go func() {
		in := bufio.NewScanner(os.Stdin)
		for in.Scan() {
			if err := c.Send(ctx, roomName, in.Bytes(), nefele.SendOptions{}); err != nil {
				fmt.Fprintln(os.Stderr, "chat: send:", err)
			}
		}
	}()
	for {
		msg, err := c.Receive(ctx)
		if err != nil {
			return err
		}
		fmt.Println(string(msg.Body))
	}
}
