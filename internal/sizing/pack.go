package sizing

import "sort"

// pod is the resources of a pod, or the room of a node: CPU in milli-cores,
// memory in bytes.
type pod struct{ cpu, mem int64 }

// podGroup is count identical pods.
type podGroup struct {
	shape pod
	count int
}

// bin is n nodes that have the same room left.
type bin struct {
	left pod
	n    int
}

// fit is how many pods of shape p fit in room.
func fit(room, p pod) int {
	if p.cpu <= 0 || p.mem <= 0 {
		return 0
	}
	return int(min(room.cpu/p.cpu, room.mem/p.mem))
}

func take(room, p pod, k int) pod {
	return pod{room.cpu - int64(k)*p.cpu, room.mem - int64(k)*p.mem}
}

// pack bin-packs pods onto nodes of one shape, first fit decreasing: the
// largest pods first (by CPU, then memory), each into the first node with
// room. Identical pods and identical nodes are handled in bulk, so packing
// thousands of applications stays fast. It returns the nodes used and the
// number of pods that fit on no node at all.
func pack(groups []podGroup, node pod) (nodes, unplaced int) {
	gs := make([]podGroup, 0, len(groups))
	for _, g := range groups {
		if g.count > 0 {
			gs = append(gs, g)
		}
	}
	larger := func(a, b pod) bool { return a.cpu > b.cpu || a.cpu == b.cpu && a.mem > b.mem }
	if len(gs) == 2 { // one application: its TaskManagers and its JobManager
		if larger(gs[1].shape, gs[0].shape) {
			gs[0], gs[1] = gs[1], gs[0]
		}
	} else {
		sort.SliceStable(gs, func(i, j int) bool { return larger(gs[i].shape, gs[j].shape) })
	}
	var bins []bin
	for _, g := range gs {
		perNode := fit(node, g.shape)
		if perNode == 0 {
			unplaced += g.count
			continue
		}
		left := g.count
		for i := 0; i < len(bins) && left > 0; i++ {
			b := bins[i]
			k := fit(b.left, g.shape)
			if k == 0 {
				continue
			}
			full := left / k // nodes of the bin that take k pods each
			if full >= b.n {
				bins[i].left = take(b.left, g.shape, k)
				left -= k * b.n
				continue
			}
			// The first full nodes take k pods, the next takes the rest,
			// the others keep their room: split the bin in that order.
			rest := left - full*k
			var split []bin
			if full > 0 {
				split = append(split, bin{take(b.left, g.shape, k), full})
			}
			untouched := b.n - full
			if rest > 0 {
				split = append(split, bin{take(b.left, g.shape, rest), 1})
				untouched--
			}
			if untouched > 0 {
				split = append(split, bin{b.left, untouched})
			}
			bins = append(bins[:i], append(split, bins[i+1:]...)...)
			left = 0
		}
		if left > 0 {
			if full := left / perNode; full > 0 {
				bins = append(bins, bin{take(node, g.shape, perNode), full})
			}
			if rest := left % perNode; rest > 0 {
				bins = append(bins, bin{take(node, g.shape, rest), 1})
			}
		}
	}
	for _, b := range bins {
		nodes += b.n
	}
	return nodes, unplaced
}
