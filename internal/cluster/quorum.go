package cluster

import (
	"fmt"
	"time"
)

// Quorum. A node that cannot reach enough of the others (Config.Quorum,
// cluster_quorum, this node included) may be cut off from them rather
// than be the one left: it must not take what it cannot hand on, or the
// two sides would diverge. So while it is short of the quorum it
// refuses QoS 1/2 messages (5.0: PUBACK/PUBREC 0x80; 3.x: the connection
// closes unacknowledged and the client sends them again elsewhere) and
// retained messages of any QoS, and new connections (CONNACK Server
// unavailable); when it falls short it closes its clients' connections
// (5.0: DISCONNECT 0x9C Use another server) so that they reconnect to
// the side that has the quorum, and a QoS 1/2 message that was waiting
// for a peer lost meanwhile is refused instead of acknowledged. QoS 0
// messages are still delivered here (at most once). When it reaches the
// quorum again it takes the retained messages of the first peer it
// syncs with as they are there.

// defaultQuorum is the quorum of a node with these peers: a majority of
// them and this node when they are three or more, else 1 (none).
func defaultQuorum(peers []string) int {
	if len(peers) < 2 {
		return 1
	}
	return (len(peers)+1)/2 + 1
}

func (n *Node) quorate() bool { return int(n.live.Load())+1 >= n.cfg.Quorum }

func (n *Node) errNoQuorum() error {
	return fmt.Errorf("cluster %s: %d of the %d nodes cluster_quorum needs are in reach", n.cfg.Name, n.live.Load()+1, n.cfg.Quorum)
}

// quorumChangedLocked runs after one peer joined (was -1) or was lost
// (was +1): it acts on crossing the quorum. Called with n.mu held.
func (n *Node) quorumChangedLocked(was int) {
	now := int(n.live.Load()) + 1
	q := n.cfg.Quorum
	switch {
	case q <= 1:
	case was < 0 && now == q:
		n.log.Info(fmt.Sprintf("Cluster %s: %d nodes in reach, as cluster_quorum needs: taking every message and connection.", n.cfg.Name, now))
		if n.rep != nil && len(n.adopting) > 0 {
			// Take-overs due since before: not before the nodes still
			// in reach had the time to be heard again (this node may
			// be the one that was cut off).
			n.wg.Go(func() {
				select {
				case <-time.After(4 * n.cfg.Heartbeat):
				case <-n.stop:
					return
				}
				n.mu.Lock()
				n.adoptDueLocked(nil)
				n.mu.Unlock()
			})
		}
	case was > 0 && now == q-1:
		n.log.Warn(fmt.Sprintf("Cluster %s: only %d of the %d nodes cluster_quorum needs in reach: refusing QoS 1/2 and retained messages and new connections, and sending this node's clients elsewhere.", n.cfg.Name, now, q))
		n.needRetained, n.replaceRetained = true, true
		if n.srv != nil && n.started {
			// Not holding n.mu: the server calls Unsubscribed, which
			// takes it, with its own lock held.
			go n.srv.Redirect()
		}
	}
}
