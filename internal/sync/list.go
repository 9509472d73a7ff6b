package sync

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	gosync "sync"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
)

// listRaw is a LIST of every object of a mapping's resource in namespace
// ns, by name. It reads the response itself and decodes its items on
// every CPU at once: a no-op pass over 1,000 FlinkDeployments spends most
// of its CPU turning the LIST's JSON into maps, which the dynamic client
// does on one goroutine. The maps are what the dynamic client would give
// (numbers that are whole stay int64).
func (s *Syncer) listRaw(ctx context.Context, m *meta.RESTMapping, ns string) (map[string]*unstructured.Unstructured, error) {
	gvr := m.Resource
	path := "/apis/" + gvr.Group + "/" + gvr.Version
	if gvr.Group == "" {
		path = "/api/" + gvr.Version
	}
	path += "/namespaces/" + ns + "/" + gvr.Resource
	raw, err := s.rest.Get().AbsPath(path).SetHeader("Accept", "application/json").Do(ctx).Raw()
	if err != nil {
		return nil, err
	}
	var list struct {
		Items []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("decoding the list of %s: %w", gvr.Resource, err)
	}
	objs := make([]*unstructured.Unstructured, len(list.Items))
	errs := make([]error, len(list.Items))
	workers := min(runtime.GOMAXPROCS(0), len(list.Items))
	var wg gosync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(list.Items); i += workers {
				var obj map[string]any
				if errs[i] = utiljson.Unmarshal(list.Items[i], &obj); errs[i] == nil {
					objs[i] = &unstructured.Unstructured{Object: obj}
				}
			}
		}()
	}
	wg.Wait()
	byName := make(map[string]*unstructured.Unstructured, len(objs))
	for i, o := range objs {
		if errs[i] != nil {
			return nil, fmt.Errorf("decoding an item of the list of %s: %w", gvr.Resource, errs[i])
		}
		if o.GetKind() == "" {
			// Items of a list carry no kind of their own in some servers'
			// answers; the mapping says what they are.
			o.SetGroupVersionKind(m.GroupVersionKind)
		}
		byName[o.GetName()] = o
	}
	return byName, nil
}

// restFor is an unversioned REST client of cfg for listRaw, set up as
// the dynamic client's.
func restFor(cfg *rest.Config) (rest.Interface, error) {
	return rest.UnversionedRESTClientFor(dynamic.ConfigFor(cfg))
}
