package testenv

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

//go:embed crds/*.yaml
var crdFS embed.FS

// crdDir is the folder of crdFS that holds the manifests.
const crdDir = "crds"

// CRDs returns the YAML manifests of flinksync's test CRDs, one
// CustomResourceDefinition per element, ordered by file name.
func CRDs() [][]byte {
	names := crdFileNames()
	out := make([][]byte, 0, len(names))
	for _, name := range names {
		b, err := crdFS.ReadFile(path.Join(crdDir, name))
		if err != nil {
			// The files are embedded at build time; this cannot happen.
			panic(fmt.Sprintf("testenv: reading embedded %s/%s: %v", crdDir, name, err))
		}
		out = append(out, b)
	}
	return out
}

// CRDObjects decodes [CRDs] into typed CustomResourceDefinitions.
func CRDObjects() ([]*apiextensionsv1.CustomResourceDefinition, error) {
	names := crdFileNames()
	out := make([]*apiextensionsv1.CustomResourceDefinition, 0, len(names))
	for i, b := range CRDs() {
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.UnmarshalStrict(b, crd); err != nil {
			return nil, fmt.Errorf("testenv: decoding internal/testenv/%s/%s: %w", crdDir, names[i], err)
		}
		if crd.Kind != "CustomResourceDefinition" || crd.Name == "" {
			return nil, fmt.Errorf("testenv: internal/testenv/%s/%s is not a named CustomResourceDefinition", crdDir, names[i])
		}
		out = append(out, crd)
	}
	return out, nil
}

func crdFileNames() []string {
	entries, err := fs.ReadDir(crdFS, crdDir)
	if err != nil {
		panic(fmt.Sprintf("testenv: listing embedded %s: %v", crdDir, err))
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

// InstallCRDs creates or updates flinksync's test CRDs in the cluster that cfg
// points at and waits until every one of them is Established (bounded by ctx,
// and by one minute at most).
func InstallCRDs(ctx context.Context, cfg *rest.Config) error {
	crds, err := CRDObjects()
	if err != nil {
		return err
	}
	c, err := crdClient(cfg)
	if err != nil {
		return err
	}
	for _, crd := range crds {
		existing := &apiextensionsv1.CustomResourceDefinition{}
		err := c.Get(ctx, client.ObjectKey{Name: crd.Name}, existing)
		switch {
		case apierrors.IsNotFound(err):
			if err := c.Create(ctx, crd.DeepCopy()); err != nil {
				return fmt.Errorf("testenv: creating CRD %s: %w", crd.Name, err)
			}
		case err != nil:
			return fmt.Errorf("testenv: reading CRD %s: %w", crd.Name, err)
		default:
			update := crd.DeepCopy()
			update.ResourceVersion = existing.ResourceVersion
			if err := c.Update(ctx, update); err != nil {
				return fmt.Errorf("testenv: updating CRD %s: %w", crd.Name, err)
			}
		}
	}
	if err := waitEstablished(ctx, c, crds); err != nil {
		return err
	}
	return waitDiscoverable(ctx, cfg, crds)
}

func crdClient(cfg *rest.Config) (client.Client, error) {
	scheme := runtime.NewScheme()
	if err := apiextensionsv1.AddToScheme(scheme); err != nil {
		return nil, fmt.Errorf("testenv: registering apiextensions.k8s.io/v1: %w", err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("testenv: creating a client for %s: %w", cfg.Host, err)
	}
	return c, nil
}

// waitEstablished polls until each CRD has the Established and NamesAccepted
// conditions set to True.
func waitEstablished(ctx context.Context, c client.Client, crds []*apiextensionsv1.CustomResourceDefinition) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for _, crd := range crds {
		var last string
		err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
			got := &apiextensionsv1.CustomResourceDefinition{}
			if err := c.Get(ctx, client.ObjectKey{Name: crd.Name}, got); err != nil {
				last = err.Error()
				return false, nil
			}
			established, accepted := false, false
			for _, cond := range got.Status.Conditions {
				switch {
				case cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue:
					established = true
				case cond.Type == apiextensionsv1.NamesAccepted && cond.Status == apiextensionsv1.ConditionTrue:
					accepted = true
				case cond.Type == apiextensionsv1.NamesAccepted:
					last = "names not accepted: " + cond.Message
				}
			}
			return established && accepted, nil
		})
		if err != nil {
			if last == "" {
				last = "not Established"
			}
			return fmt.Errorf("testenv: waiting for CRD %s: %s: %w", crd.Name, last, err)
		}
	}
	return nil
}

// waitDiscoverable polls API discovery until it lists every served version of
// each CRD, so that clients resolving kinds through discovery (REST mappers)
// find them right away.
func waitDiscoverable(ctx context.Context, cfg *rest.Config, crds []*apiextensionsv1.CustomResourceDefinition) error {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return fmt.Errorf("testenv: creating a discovery client for %s: %w", cfg.Host, err)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for _, crd := range crds {
		for _, v := range crd.Spec.Versions {
			if !v.Served {
				continue
			}
			gv := crd.Spec.Group + "/" + v.Name
			err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(context.Context) (bool, error) {
				list, err := dc.ServerResourcesForGroupVersion(gv)
				if err != nil {
					return false, nil
				}
				for _, r := range list.APIResources {
					if r.Name == crd.Spec.Names.Plural {
						return true, nil
					}
				}
				return false, nil
			})
			if err != nil {
				return fmt.Errorf("testenv: waiting for %s %s to appear in API discovery: %w", gv, crd.Spec.Names.Plural, err)
			}
		}
	}
	return nil
}
