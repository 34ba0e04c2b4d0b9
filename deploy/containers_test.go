package deploy

import (
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// tokenSecret is the Secret every token comes from, and which key holds
// which token, by the variable it is put in.
const tokenSecret = "hbctl-tokens"

var tokenKeys = map[string]string{"HBCTL_TOKEN": "coordinator", "HBCTL_ADMIN_TOKEN": "admin"}

// podTemplate is a workload's pod template with its name for messages.
type podTemplate struct {
	where     string
	component string
	spec      *corev1.PodSpec
	claims    map[string]bool // volumeClaimTemplates (StatefulSets)
	replicas  int32           // -1: one per node
	daemonSet bool
}

func (r *rendered) podTemplates() []podTemplate {
	var ps []podTemplate
	for _, d := range r.deployments {
		n := int32(1)
		if d.Spec.Replicas != nil {
			n = *d.Spec.Replicas
		}
		ps = append(ps, podTemplate{"deployment/" + d.Name, d.Spec.Template.Labels[componentLabel], &d.Spec.Template.Spec, nil, n, false})
	}
	for _, s := range r.statefulSets {
		claims := map[string]bool{}
		for _, c := range s.Spec.VolumeClaimTemplates {
			claims[c.Name] = true
		}
		n := int32(1)
		if s.Spec.Replicas != nil {
			n = *s.Spec.Replicas
		}
		ps = append(ps, podTemplate{"statefulset/" + s.Name, s.Spec.Template.Labels[componentLabel], &s.Spec.Template.Spec, claims, n, false})
	}
	for _, d := range r.daemonSets {
		ps = append(ps, podTemplate{"daemonset/" + d.Name, d.Spec.Template.Labels[componentLabel], &d.Spec.Template.Spec, nil, -1, true})
	}
	for _, j := range r.jobs {
		ps = append(ps, podTemplate{"job/" + j.Name, j.Spec.Template.Labels[componentLabel], &j.Spec.Template.Spec, nil, 1, false})
	}
	return ps
}

const componentLabel = "app.kubernetes.io/component"

// containerRun is what one container runs: its hbctl invocations, checked.
type containerRun struct {
	where string
	c     *corev1.Container
	runs  []*checked
	// direct: the container's process is hbctl itself (no shell), so its
	// exit code is hbctl's.
	direct bool
}

// checkContainer finds the hbctl invocations of one container (its command
// and args, or a shell script it runs) and checks their flags, and that
// every HBCTL_* variable it sets is read by a flag of a command it runs.
func checkContainer(where string, c *corev1.Container) (*containerRun, error) {
	cr := &containerRun{where: where, c: c}
	argv := append(append([]string{}, c.Command...), c.Args...)
	var invs []invocation
	switch {
	case len(c.Command) == 0:
		// The image's entrypoint: hbctl (deploy/Dockerfile).
		invs, cr.direct = []invocation{{where, argv}}, true
	case hbctlProgram(argv[0]):
		invs, cr.direct = []invocation{{where, argv[1:]}}, true
	case (path.Base(argv[0]) == "sh" || path.Base(argv[0]) == "bash") && len(argv) >= 3 && argv[1] == "-c":
		var err error
		if invs, err = shellInvocations(where, argv[2]); err != nil {
			return nil, err
		}
	default:
		for _, a := range argv {
			if strings.Contains(a, "hbctl ") {
				return nil, fmt.Errorf("%s: runs hbctl in a way this check does not read: %q", where, argv)
			}
		}
	}
	var problems []error
	env := map[string]bool{}
	for _, inv := range invs {
		ch, err := checkInvocation(inv)
		if err != nil {
			problems = append(problems, err)
			continue
		}
		cr.runs = append(cr.runs, ch)
		for k := range ch.env {
			env[k] = true
		}
	}
	for _, e := range c.Env {
		if strings.HasPrefix(e.Name, "HBCTL_") && !env[e.Name] {
			problems = append(problems, fmt.Errorf("%s: env %s is read by no flag of what it runs (%s)", where, e.Name, commands(cr.runs)))
		}
		if key, ok := tokenKeys[e.Name]; ok {
			ref := e.ValueFrom
			if ref == nil || ref.SecretKeyRef == nil || ref.SecretKeyRef.Name != tokenSecret || ref.SecretKeyRef.Key != key {
				problems = append(problems, fmt.Errorf("%s: env %s must come from secret %s key %s", where, e.Name, tokenSecret, key))
			}
		}
	}
	return cr, errors.Join(problems...)
}

func commands(runs []*checked) string {
	var s []string
	for _, r := range runs {
		s = append(s, "hbctl "+strings.Join(r.path, " "))
	}
	if len(s) == 0 {
		return "no hbctl"
	}
	return strings.Join(s, ", ")
}

// value is the value a container gives flag name of its first hbctl run:
// from its arguments, else from its environment (literal values only).
func (cr *containerRun) value(name string) (string, bool) {
	if len(cr.runs) == 0 {
		return "", false
	}
	if v, ok := cr.runs[0].flags[name]; ok {
		return v, true
	}
	h, err := helpFor(cr.runs[0].path)
	if err != nil {
		return "", false
	}
	for _, e := range cr.c.Env {
		if slices.Contains(h.flags[name].env, e.Name) && e.ValueFrom == nil {
			return e.Value, true
		}
	}
	return "", false
}

// containers checks every container of every pod template in r and
// returns them by component ("agent", "server", "coordinator", "run").
func (r *rendered) containers() (map[string][]*containerRun, []podTemplate, error) {
	byComp := map[string][]*containerRun{}
	var problems []error
	pts := r.podTemplates()
	for _, pt := range pts {
		all := append(append([]corev1.Container{}, pt.spec.InitContainers...), pt.spec.Containers...)
		for i := range all {
			c := &all[i]
			cr, err := checkContainer(pt.where+" container "+c.Name, c)
			if err != nil {
				problems = append(problems, err)
				continue
			}
			if len(cr.runs) > 0 && slices.ContainsFunc(pt.spec.Containers, func(x corev1.Container) bool { return x.Name == c.Name }) {
				byComp[pt.component] = append(byComp[pt.component], cr)
			}
		}
	}
	return byComp, pts, errors.Join(problems...)
}

// TestKubernetesHbctlFlags checks every hbctl argument and HBCTL_* variable
// of every container of every overlay against hbctl's --help.
func TestKubernetesHbctlFlags(t *testing.T) {
	_, overlays := kustomizations(t)
	for _, dir := range overlays {
		t.Run(filepath.ToSlash(dir), func(t *testing.T) {
			r, err := render(dir)
			if err != nil {
				t.Fatal(err)
			}
			byComp, _, err := r.containers()
			if err != nil {
				t.Fatal(err)
			}
			for _, comp := range []string{"coordinator", "server", "agent", "run"} {
				if len(byComp[comp]) != 1 {
					t.Errorf("%d %s containers running hbctl, want 1", len(byComp[comp]), comp)
				}
			}
		})
	}
}

// TestFlagCheckRejects proves the flag and variable checks can fail.
func TestFlagCheckRejects(t *testing.T) {
	bad := []struct {
		name string
		c    corev1.Container
	}{
		{"misspelt flag", corev1.Container{Command: []string{"/usr/local/bin/hbctl", "agent"}, Args: []string{"--nmae=h01"}}},
		{"flag of another command", corev1.Container{Command: []string{"hbctl", "agent"}, Args: []string{"--admin=:8989"}}},
		{"flag without its value", corev1.Container{Command: []string{"hbctl", "coordinator", "--data-dir"}}},
		{"no such command", corev1.Container{Command: []string{"hbctl", "coordinate"}}},
		{"a group without its subcommand", corev1.Container{Command: []string{"hbctl", "verify"}}},
		{"entrypoint args", corev1.Container{Args: []string{"server", "--listn=:1025"}}},
		{"in a shell script", corev1.Container{Command: []string{"/bin/sh", "-c"},
			Args: []string{"until hbctl status --jsn | grep -q alive; do sleep 1; done"}}},
		{"variable no flag reads", corev1.Container{Command: []string{"hbctl", "agent"},
			Env: []corev1.EnvVar{{Name: "HBCTL_AGENT_NAMES", Value: "h01"}}}},
		{"variable of another command", corev1.Container{Command: []string{"hbctl", "agent"},
			Env: []corev1.EnvVar{{Name: "HBCTL_SERVER_DATA_DIR", Value: "/data"}}}},
		{"variable where no hbctl runs", corev1.Container{Command: []string{"chown", "1:1", "/data"},
			Env: []corev1.EnvVar{{Name: "HBCTL_TOKEN", Value: "x"}}}},
		{"token from the wrong key", corev1.Container{Command: []string{"hbctl", "agent"},
			Env: []corev1.EnvVar{{Name: "HBCTL_TOKEN", ValueFrom: &corev1.EnvVarSource{
				SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: tokenSecret}, Key: "admin"}}}}}},
	}
	for _, c := range bad {
		if _, err := checkContainer(c.name, &c.c); err == nil {
			t.Errorf("%s: no error", c.name)
		} else {
			t.Logf("%v", err)
		}
	}
	good := corev1.Container{Command: []string{"/bin/sh", "-c"},
		Args: []string{`hbctl status --json --coordinator "$URL" | grep -c alive; hbctl verify ledger --grace=5s`},
		Env: []corev1.EnvVar{{Name: "HBCTL_GRACE", Value: "1s"}, {Name: "HBCTL_TOKEN", ValueFrom: &corev1.EnvVarSource{
			SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: tokenSecret}, Key: "coordinator"}}}}}
	cr, err := checkContainer("good", &good)
	if err != nil {
		t.Fatalf("a valid script: %v", err)
	}
	if len(cr.runs) != 2 || cr.direct {
		t.Fatalf("found %d hbctl runs (direct %v), want 2 through the shell", len(cr.runs), cr.direct)
	}
}
