package sync

import (
	"context"
	"encoding/base64"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// ReadSecret reads the data of the Secret name in namespace. A target: cmf
// environment reads the credentials it presents to CMF with it (a
// cmf.SecretReader); the values go to the CMF client and nowhere else.
func (s *Syncer) ReadSecret(ctx context.Context, namespace, name string) (map[string][]byte, error) {
	u, err := s.dyn.Resource(secretGVR).Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	data, _, err := unstructured.NestedStringMap(u.Object, "data")
	if err != nil {
		return nil, fmt.Errorf("secret %s/%s: data: %w", namespace, name, err)
	}
	out := make(map[string][]byte, len(data))
	for k, v := range data {
		b, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			return nil, fmt.Errorf("secret %s/%s: key %q is not base64", namespace, name, k)
		}
		out[k] = b
	}
	return out, nil
}
