package deploy

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// rendered is one kustomization rendered and decoded.
type rendered struct {
	dir          string
	namespaces   []*corev1.Namespace
	services     []*corev1.Service
	configMaps   []*corev1.ConfigMap
	pvcs         []*corev1.PersistentVolumeClaim
	deployments  []*appsv1.Deployment
	statefulSets []*appsv1.StatefulSet
	daemonSets   []*appsv1.DaemonSet
	jobs         []*batchv1.Job
}

// decodeStrict decodes one object's YAML into the k8s.io/api type of its
// kind, failing on any field that type does not have, and adds it to r.
func (r *rendered) decodeStrict(y []byte) error {
	var meta struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := yaml.Unmarshal(y, &meta); err != nil {
		return err
	}
	var obj any
	var want string
	switch meta.Kind {
	case "Namespace":
		o := &corev1.Namespace{}
		obj, want, r.namespaces = o, "v1", append(r.namespaces, o)
	case "Service":
		o := &corev1.Service{}
		obj, want, r.services = o, "v1", append(r.services, o)
	case "ConfigMap":
		o := &corev1.ConfigMap{}
		obj, want, r.configMaps = o, "v1", append(r.configMaps, o)
	case "PersistentVolumeClaim":
		o := &corev1.PersistentVolumeClaim{}
		obj, want, r.pvcs = o, "v1", append(r.pvcs, o)
	case "Deployment":
		o := &appsv1.Deployment{}
		obj, want, r.deployments = o, "apps/v1", append(r.deployments, o)
	case "StatefulSet":
		o := &appsv1.StatefulSet{}
		obj, want, r.statefulSets = o, "apps/v1", append(r.statefulSets, o)
	case "DaemonSet":
		o := &appsv1.DaemonSet{}
		obj, want, r.daemonSets = o, "apps/v1", append(r.daemonSets, o)
	case "Job":
		o := &batchv1.Job{}
		obj, want, r.jobs = o, "batch/v1", append(r.jobs, o)
	default:
		return fmt.Errorf("kind %q (%s): no k8s.io/api type to check it against in this test", meta.Kind, meta.APIVersion)
	}
	if meta.APIVersion != want {
		return fmt.Errorf("%s: apiVersion %q, want %q", meta.Kind, meta.APIVersion, want)
	}
	if err := yaml.UnmarshalStrict(y, obj); err != nil {
		return fmt.Errorf("%s: %w", meta.Kind, err)
	}
	return nil
}

// render runs kustomize on dir as kubectl kustomize does and decodes every
// object strictly.
func render(dir string) (*rendered, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize %s: %w", dir, err)
	}
	r := &rendered{dir: dir}
	for _, res := range m.Resources() {
		y, err := res.AsYAML()
		if err != nil {
			return nil, err
		}
		if err := r.decodeStrict(y); err != nil {
			return nil, fmt.Errorf("%s: %s/%s: %w", dir, res.GetKind(), res.GetName(), err)
		}
	}
	return r, nil
}

// kustomizations lists every directory under kubernetes/ with a
// kustomization that renders alone (components render inside overlays).
func kustomizations(t *testing.T) (bases, overlays []string) {
	t.Helper()
	err := filepath.WalkDir("kubernetes", func(p string, d os.DirEntry, err error) error {
		if err != nil || d.Name() != "kustomization.yaml" {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		var k struct{ Kind string }
		if err := yaml.Unmarshal(b, &k); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		switch dir := filepath.Dir(p); {
		case k.Kind == "Component":
		case strings.HasPrefix(dir, filepath.Join("kubernetes", "overlays")):
			overlays = append(overlays, dir)
		default:
			bases = append(bases, dir)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(overlays) < 3 {
		t.Fatalf("found overlays %v, want statefulset, daemonset and reference-17 at least", overlays)
	}
	return bases, overlays
}

// TestKustomizeRendersStrictly renders every kustomization and decodes
// every object into its k8s.io/api type, unknown fields failing.
func TestKustomizeRendersStrictly(t *testing.T) {
	bases, overlays := kustomizations(t)
	for _, dir := range append(bases, overlays...) {
		t.Run(filepath.ToSlash(dir), func(t *testing.T) {
			r, err := render(dir)
			if err != nil {
				t.Fatal(err)
			}
			if n := len(r.deployments) + len(r.statefulSets) + len(r.daemonSets) + len(r.jobs); n == 0 {
				t.Fatal("no workloads rendered")
			}
		})
	}
}

// TestStrictDecodeRejectsUnknownField proves the decoding above can fail.
func TestStrictDecodeRejectsUnknownField(t *testing.T) {
	for _, c := range []struct{ name, y string }{
		{"misspelt container field", `
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: x}
spec:
  template:
    spec:
      containers: [{name: a, image: hbctl, volumeMount: []}]`},
		{"field of another kind", `
apiVersion: batch/v1
kind: Job
metadata: {name: x}
spec: {replicas: 1}`},
		{"wrong apiVersion", `
apiVersion: extensions/v1beta1
kind: Deployment
metadata: {name: x}`},
		{"kind without a type", `
apiVersion: example.com/v1
kind: Widget
metadata: {name: x}`},
	} {
		if err := new(rendered).decodeStrict([]byte(c.y)); err == nil {
			t.Errorf("%s: decoded without an error", c.name)
		} else {
			t.Logf("%s: %v", c.name, err)
		}
	}
	ok := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: b}\n"
	if err := new(rendered).decodeStrict([]byte(ok)); err != nil {
		t.Errorf("a valid ConfigMap: %v", err)
	}
}
