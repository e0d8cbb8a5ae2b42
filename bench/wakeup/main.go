// Command wakeup measures how quickly a broker answers a connection that
// has been quiet, and whether the order of packets across connections is
// kept when both were quiet:
//
//	go run ./bench/wakeup -a 127.0.0.1:1883 -n 200
//
// It prints the PINGREQ to PINGRESP round trip on a connection that has
// been silent for -gap (midge parks such a connection: it has no
// goroutine until bytes arrive) and on one that pings back to back, then
// plays -n rounds of: a quiet subscriber sends SUBSCRIBE and, without
// waiting for SUBACK, a quiet publisher on another connection publishes to
// the topic at once. In Mosquitto, which handles sockets in the order they
// became readable, the message always reaches the subscriber; the count of
// rounds where it did not is the order kept across connections.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"time"
)

func main() {
	addr := flag.String("a", "127.0.0.1:1883", "broker address")
	n := flag.Int("n", 200, "samples and rounds")
	gap := flag.Duration("gap", 100*time.Millisecond, "quiet time before each quiet ping or round")
	flag.Parse()
	if err := run(*addr, *n, *gap); err != nil {
		fmt.Fprintln(os.Stderr, "wakeup:", err)
		os.Exit(1)
	}
}

func run(addr string, n int, gap time.Duration) error {
	c, err := connect(addr, "wakeup-ping")
	if err != nil {
		return err
	}
	defer c.Close()
	quiet := make([]time.Duration, 0, n)
	for range n {
		time.Sleep(gap)
		d, err := ping(c)
		if err != nil {
			return err
		}
		quiet = append(quiet, d)
	}
	busy := make([]time.Duration, 0, 10*n)
	for range 10 * n {
		d, err := ping(c)
		if err != nil {
			return err
		}
		busy = append(busy, d)
	}
	fmt.Printf("ping after %v quiet: %s\n", gap, percentiles(quiet))
	fmt.Printf("ping back to back:    %s\n", percentiles(busy))

	missed, err := races(addr, n, gap)
	if err != nil {
		return err
	}
	fmt.Printf("SUBSCRIBE then another connection's PUBLISH, both quiet: %d of %d messages missed\n", missed, n)
	return nil
}

// races plays n rounds of subscribe-then-publish across two quiet
// connections and returns how many messages the subscriber did not get.
func races(addr string, n int, gap time.Duration) (int, error) {
	sub, err := connect(addr, "wakeup-sub")
	if err != nil {
		return 0, err
	}
	defer sub.Close()
	pub, err := connect(addr, "wakeup-pub")
	if err != nil {
		return 0, err
	}
	defer pub.Close()
	br := bufio.NewReader(sub)
	missed := 0
	for i := range n {
		time.Sleep(gap)
		topic := fmt.Sprintf("wakeup/%d", i)
		if _, err := sub.Write(subscribe(uint16(i%65535+1), topic)); err != nil {
			return 0, err
		}
		if _, err := pub.Write(publish(topic, "x")); err != nil {
			return 0, err
		}
		// SUBACK, then the message if it was routed to the subscription;
		// a ping closes the round either way.
		if _, err := sub.Write([]byte{0xC0, 0}); err != nil {
			return 0, err
		}
		got := false
		for {
			_ = sub.SetReadDeadline(time.Now().Add(5 * time.Second))
			typ, _, err := readPacket(br)
			if err != nil {
				return 0, err
			}
			if typ == 3 {
				got = true
			}
			if typ == 13 {
				break
			}
		}
		if !got {
			missed++
		}
	}
	return missed, nil
}

func percentiles(d []time.Duration) string {
	slices.Sort(d)
	at := func(p int) time.Duration { return d[min(len(d)-1, len(d)*p/100)] }
	return fmt.Sprintf("p50 %v  p90 %v  p99 %v  max %v", at(50), at(90), at(99), d[len(d)-1])
}

func connect(addr, id string) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	// MQTT 3.1.1 CONNECT, clean session, keep alive 0.
	body := append([]byte{0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 0, 0, byte(len(id))}, id...)
	if _, err := c.Write(append([]byte{0x10, byte(len(body))}, body...)); err != nil {
		c.Close()
		return nil, err
	}
	var ack [4]byte
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, ack[:]); err != nil || ack[0] != 0x20 || ack[3] != 0 {
		c.Close()
		return nil, fmt.Errorf("CONNECT refused: % x %v", ack, err)
	}
	return c, nil
}

func ping(c net.Conn) (time.Duration, error) {
	start := time.Now()
	if _, err := c.Write([]byte{0xC0, 0}); err != nil {
		return 0, err
	}
	var resp [2]byte
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, resp[:]); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

func subscribe(id uint16, topic string) []byte {
	body := []byte{byte(id >> 8), byte(id), 0, byte(len(topic))}
	body = append(append(body, topic...), 0)
	return append([]byte{0x82, byte(len(body))}, body...)
}

func publish(topic, payload string) []byte {
	body := append([]byte{0, byte(len(topic))}, topic...)
	body = append(body, payload...)
	return append([]byte{0x30, byte(len(body))}, body...)
}

// readPacket reads one packet and returns its type and body.
func readPacket(br *bufio.Reader) (byte, []byte, error) {
	first, err := br.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n, mult := 0, 1
	for {
		b, err := br.ReadByte()
		if err != nil {
			return 0, nil, err
		}
		n += int(b&0x7f) * mult
		if b&0x80 == 0 {
			break
		}
		mult *= 128
	}
	body := make([]byte, n)
	_, err = io.ReadFull(br, body)
	return first >> 4, body, err
}
