package sync

import (
	"encoding/json"
	"math"
	"strconv"

	"k8s.io/apimachinery/pkg/api/resource"
)

// Equality as the API server sees it, without asking it: the local
// pre-check that lets most objects of a pass be settled in memory. It may
// say "maybe different" when the server would store the same thing (an
// empty list the server drops, a clusterIP it allocates, a field a webhook
// rewrites): the server-side dry run (semantic_dryrun.go) settles those.
// It never says "equal" when applying would change what the server
// stores, except that a quantity written another way (1000m for 1) counts
// as the same quantity wherever it sits at a quantity path.

// listElem stands for a list element in a path handed to quantityPath: the
// rules look at map keys only.
const listElem = "[]"

// covers reports whether live holds every field of desired with the same
// value as the server sees it. path is where desired and live sit in an
// object of the given kind (map keys, listElem for list elements); it is
// used as a stack and never kept. Lists must have the same length and
// cover element by element.
func covers(kind string, path []string, desired, live any) bool {
	switch dv := desired.(type) {
	case map[string]any:
		lv, ok := live.(map[string]any)
		if !ok {
			return false
		}
		for k, v := range dv {
			if !covers(kind, append(path, k), v, lv[k]) {
				return false
			}
		}
		return true
	case []any:
		lv, ok := live.([]any)
		if !ok || len(lv) != len(dv) {
			return false
		}
		for i := range dv {
			if !covers(kind, append(path, listElem), dv[i], lv[i]) {
				return false
			}
		}
		return true
	}
	return sameScalar(kind, path, desired, live)
}

// semanticEqual reports whether a and b are the same JSON value as the
// server sees it: each covers the other (a null field and a missing one
// are the same).
func semanticEqual(kind string, path []string, a, b any) bool {
	return covers(kind, path, a, b) && covers(kind, path, b, a)
}

// sameScalar compares JSON scalars as the server sees them: as
// scalarEqual does, and at a quantity path (quantityPath), quantities by
// value, whatever their spelling: 1000m and 1, 1024Mi and 1Gi, 10 and "10".
func sameScalar(kind string, path []string, a, b any) bool {
	if scalarEqual(a, b) {
		return true
	}
	if !quantityPath(kind, path) {
		return false
	}
	qa, aok := quantity(a)
	qb, bok := quantity(b)
	return aok && bok && qa.Cmp(qb) == 0
}

// scalarEqual compares JSON scalars; numbers compare by value, whatever
// their Go type (JSON has one number type).
func scalarEqual(a, b any) bool {
	if a == b {
		return true
	}
	fa, aok := num(a)
	fb, bok := num(b)
	return aok && bok && (fa == fb || math.Abs(fa-fb) < 1e-9)
}

func num(v any) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case int:
		return float64(x), true
	case int32:
		return float64(x), true
	case float64:
		return x, true
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	}
	return 0, false
}

// quantity reads a Kubernetes quantity written as a string or a number.
func quantity(v any) (resource.Quantity, bool) {
	var s string
	switch x := v.(type) {
	case string:
		s = x
	case int64:
		s = strconv.FormatInt(x, 10)
	case int:
		s = strconv.Itoa(x)
	case float64:
		s = strconv.FormatFloat(x, 'f', -1, 64)
	case json.Number:
		s = x.String()
	default:
		return resource.Quantity{}, false
	}
	q, err := resource.ParseQuantity(s)
	return q, err == nil
}

// limitRangeQuantities are the maps of a LimitRange item that hold
// quantities (core/v1 LimitRangeItem).
var limitRangeQuantities = map[string]bool{"max": true, "min": true, "default": true, "defaultRequest": true, "maxLimitRequestRatio": true}

// quantityPath reports whether path holds a resource.Quantity in the
// built-in types an object of the given kind may carry: a container's,
// a pod's or a claim's resources.limits and resources.requests (also
// inside a Flink operator's pod template, where the operator copies them
// to the pod), a ResourceQuota's spec.hard, a LimitRange's limits, a
// pod's overhead and an emptyDir's sizeLimit. Elsewhere a string that
// reads as a quantity is just a string (Flink's "1024m" memory is 1024
// mebibytes, not 1.024 bytes).
func quantityPath(kind string, path []string) bool {
	n := len(path)
	switch {
	case n >= 3 && path[n-3] == "resources" && (path[n-2] == "limits" || path[n-2] == "requests"):
		return true
	case n >= 2 && path[n-2] == "overhead", n >= 2 && path[n-2] == "emptyDir" && path[n-1] == "sizeLimit":
		return true
	case kind == "ResourceQuota" && n == 3 && path[0] == "spec" && path[1] == "hard":
		return true
	case kind == "LimitRange" && n == 5 && path[0] == "spec" && path[1] == "limits" && limitRangeQuantities[path[3]]:
		return true
	}
	return false
}
