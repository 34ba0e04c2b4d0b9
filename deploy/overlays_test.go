package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/yaml"
)

// The measured figures the requests are sized from (see the comments in
// the manifests): agents/bench_results.txt, server/bench_results.txt, and
// the lab's ~10 KiB of kernel memory a loopback connection (both ends).
const (
	agentKiBPerConn  = 1.2 + 5 // user space while firing + kernel socket
	agentFixedMiB    = 30
	serverKiBPerConn = 0.5 + 5
	serverFixedMiB   = 15
)

// volumeFor is the volume a container's path lies on.
func volumeFor(spec *corev1.PodSpec, c *corev1.Container, p string) (name string, ok bool) {
	best := ""
	for _, m := range c.VolumeMounts {
		mp := strings.TrimSuffix(m.MountPath, "/")
		if (p == mp || strings.HasPrefix(p, mp+"/")) && len(mp) > len(best) {
			best, name, ok = mp, m.Name, true
		}
	}
	return name, ok
}

// persistentDataDir checks that the --data-dir of cr lies on a volume that
// outlives the pod: a volumeClaimTemplate, a PersistentVolumeClaim, or (one
// agent a node) a hostPath directory.
func persistentDataDir(pt podTemplate, cr *containerRun, r *rendered) error {
	dir, ok := cr.value("data-dir")
	if !ok || !path.IsAbs(dir) {
		return fmt.Errorf("%s: no absolute --data-dir (%q)", cr.where, dir)
	}
	name, ok := volumeFor(pt.spec, cr.c, dir)
	if !ok {
		return fmt.Errorf("%s: --data-dir %s is on no volume: the container's own filesystem dies with it", cr.where, dir)
	}
	for _, v := range pt.spec.Volumes {
		if v.Name != name {
			continue
		}
		switch {
		case v.PersistentVolumeClaim != nil:
			if !slices.ContainsFunc(r.pvcs, func(p *corev1.PersistentVolumeClaim) bool { return p.Name == v.PersistentVolumeClaim.ClaimName }) {
				return fmt.Errorf("%s: claim %s is not in the rendered objects", cr.where, v.PersistentVolumeClaim.ClaimName)
			}
			return nil
		case v.HostPath != nil && pt.daemonSet:
			return nil
		default:
			return fmt.Errorf("%s: --data-dir %s is on volume %s, which is not persistent", cr.where, dir, name)
		}
	}
	if pt.claims[name] {
		return nil
	}
	return fmt.Errorf("%s: --data-dir %s is on volume %s, defined nowhere", cr.where, dir, name)
}

// TestKubernetesOverlays checks what the flags cannot: journals on
// persistent volumes, stable agent names, the Job's exit code, readiness,
// the Services against the ports, tokens, and the memory requests against
// the measured per-connection figures.
func TestKubernetesOverlays(t *testing.T) {
	_, overlays := kustomizations(t)
	for _, dir := range overlays {
		t.Run(filepath.ToSlash(dir), func(t *testing.T) {
			r, err := render(dir)
			if err != nil {
				t.Fatal(err)
			}
			if err := checkOverlay(r); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// checkOverlay applies every rule of TestKubernetesOverlays to r.
func checkOverlay(r *rendered) error {
	byComp, pts, err := r.containers()
	if err != nil {
		return err
	}
	var problems []error
	fail := func(format string, a ...any) { problems = append(problems, fmt.Errorf(format, a...)) }
	pt := func(comp string) podTemplate {
		for _, p := range pts {
			if p.component == comp {
				return p
			}
		}
		return podTemplate{}
	}
	for _, comp := range []string{"coordinator", "server", "agent", "run"} {
		if len(byComp[comp]) != 1 {
			return fmt.Errorf("%d %s containers running hbctl, want 1", len(byComp[comp]), comp)
		}
	}
	coord, server, agent, run := byComp["coordinator"][0], byComp["server"][0], byComp["agent"][0], byComp["run"][0]

	// One image, set by the overlay, everywhere.
	images := map[string]bool{}
	for _, p := range pts {
		for _, c := range append(append([]corev1.Container{}, p.spec.InitContainers...), p.spec.Containers...) {
			images[c.Image] = true
		}
	}
	if len(images) != 1 || images["hbctl"] {
		fail("images %v: want one, set by the overlay's images: (a bare \"hbctl\" was added after the transformer ran)", images)
	}

	// Journals and data dirs survive the pod. Each workload's component
	// label is the hbctl command it runs.
	for _, cr := range []*containerRun{coord, server, agent} {
		if err := persistentDataDir(pt(cr.runs[0].path[0]), cr, r); err != nil {
			problems = append(problems, err)
		}
	}
	// A stable agent name: the StatefulSet pod's name, or the node's.
	ap := pt("agent")
	wantField := "metadata.name"
	if ap.daemonSet {
		wantField = "spec.nodeName"
	}
	if !slices.ContainsFunc(agent.c.Env, func(e corev1.EnvVar) bool {
		return e.Name == "HBCTL_AGENT_NAME" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == wantField
	}) {
		fail("%s: HBCTL_AGENT_NAME must come from %s", agent.where, wantField)
	}
	if !ap.daemonSet && ap.claims == nil {
		fail("%s: agents must be a StatefulSet (a claim each) or a DaemonSet", ap.where)
	}

	// The Job: hbctl run itself is the pod's process, run once.
	if len(r.jobs) != 1 {
		fail("%d Jobs, want 1", len(r.jobs))
	} else if err := checkJob(r, r.jobs[0], run); err != nil {
		problems = append(problems, err)
	}

	// The coordinator's Service: TCP --listen and UDP --time-udp, same port
	// numbers (agents dial the reported time port on the Service's host).
	svc := r.service("hbctl-coordinator")
	listen, _ := coord.value("listen")
	timeUDP, _ := coord.value("time-udp")
	if svc == nil {
		fail("no Service hbctl-coordinator")
	} else {
		if err := servicePort(svc, coord.c, listen, corev1.ProtocolTCP, false); err != nil {
			problems = append(problems, err)
		}
		if err := servicePort(svc, coord.c, timeUDP, corev1.ProtocolUDP, true); err != nil {
			problems = append(problems, err)
		}
	}
	// Everyone reaches the coordinator at its Service.
	for _, cr := range []*containerRun{agent, run} {
		u, ok := cr.value("coordinator")
		if err := serviceURL(r, u, ok, "hbctl-coordinator", listen); err != nil {
			fail("%s: --coordinator: %v", cr.where, err)
		}
	}
	// The Job's targets are the server's Service.
	serverListen, _ := server.value("listen")
	serverAdmin, _ := server.value("admin")
	addr, ok := run.value("server")
	if err := serviceURL(r, "tcp://"+addr, ok, "hbctl-server", serverListen); err != nil {
		fail("%s: --server: %v", run.where, err)
	}
	adminURL, ok := run.value("admin")
	if err := serviceURL(r, adminURL, ok, "hbctl-server", serverAdmin); err != nil {
		fail("%s: --admin: %v", run.where, err)
	}
	// Readiness from /healthz, on the port that serves it.
	for _, x := range []struct {
		cr   *containerRun
		addr string
	}{{coord, listen}, {server, serverAdmin}} {
		if err := healthzProbe(x.cr, x.addr); err != nil {
			problems = append(problems, err)
		}
	}

	// Requests cover the measured per-connection memory.
	capStr, _ := agent.value("capacity")
	capacity, err := strconv.Atoi(capStr)
	if err != nil {
		fail("%s: capacity %q: %v", agent.where, capStr, err)
	}
	if err := memoryCovers(agent, capacity, agentKiBPerConn, agentFixedMiB); err != nil {
		problems = append(problems, err)
	}
	if !ap.daemonSet {
		sp := pt("server")
		conns := capacity * int(ap.replicas) / int(sp.replicas)
		if err := memoryCovers(server, conns, serverKiBPerConn, serverFixedMiB); err != nil {
			problems = append(problems, err)
		}
		// The Job waits for every agent.
		if want := waitAgents(r.jobs); want != int(ap.replicas) {
			fail("the Job waits for %d agents, the StatefulSet has %d", want, ap.replicas)
		}
	}
	return errors.Join(problems...)
}

// checkJob checks that job runs hbctl run once, as its container's process
// (so the pod's exit code is the verdict), on a scenario from a ConfigMap
// that is rendered, and that hbctl accepts that scenario with those flags.
func checkJob(r *rendered, job *batchv1.Job, run *containerRun) error {
	if job.Spec.BackoffLimit == nil || *job.Spec.BackoffLimit != 0 {
		return fmt.Errorf("job/%s: backoffLimit must be 0 (a retry is a second experiment)", job.Name)
	}
	if job.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyNever {
		return fmt.Errorf("job/%s: restartPolicy %q, want Never", job.Name, job.Spec.Template.Spec.RestartPolicy)
	}
	if !run.direct || len(run.runs) != 1 || strings.Join(run.runs[0].path, " ") != "run" {
		return fmt.Errorf("%s: must be hbctl run itself, no shell around it, for the pod's exit code to be the verdict", run.where)
	}
	if len(run.runs[0].pos) != 1 {
		return fmt.Errorf("%s: hbctl run takes one scenario, got %q", run.where, run.runs[0].pos)
	}
	scen := run.runs[0].pos[0]
	vol, ok := volumeFor(&job.Spec.Template.Spec, run.c, scen)
	if !ok {
		return fmt.Errorf("%s: scenario %s is on no volume", run.where, scen)
	}
	var data string
	for _, v := range job.Spec.Template.Spec.Volumes {
		if v.Name != vol || v.ConfigMap == nil {
			continue
		}
		var mountPath string
		for _, m := range run.c.VolumeMounts {
			if m.Name == vol {
				mountPath = m.MountPath
			}
		}
		key := strings.TrimPrefix(strings.TrimPrefix(scen, mountPath), "/")
		for _, cm := range r.configMaps {
			if cm.Name == v.ConfigMap.Name {
				data, ok = cm.Data[key]
			}
		}
		if !ok {
			return fmt.Errorf("%s: scenario %s: configmap %s with key %s is not rendered", run.where, scen, v.ConfigMap.Name, key)
		}
	}
	if data == "" {
		return fmt.Errorf("%s: scenario %s is not from a ConfigMap", run.where, scen)
	}
	// hbctl run with the Job's arguments on that scenario, against a
	// coordinator that is not there: 4 (unreachable) means the scenario and
	// every flag passed; 2 would be a bad scenario.
	f := filepath.Join(os.TempDir(), fmt.Sprintf("hbctl-deploy-scenario-%d.yaml", os.Getpid()))
	if err := os.WriteFile(f, []byte(data), 0o600); err != nil {
		return err
	}
	defer os.Remove(f)
	args := []string{"run"}
	for _, a := range run.runs[0].rest {
		switch {
		case a == scen:
			a = f
		case strings.HasPrefix(a, "--coordinator="):
			a = "--coordinator=http://127.0.0.1:1"
		}
		args = append(args, a)
	}
	cmd := exec.Command(hbctlBin, args...)
	cmd.Env = []string{"HBCTL_TOKEN=t", "HBCTL_ADMIN_TOKEN=t", "HBCTL_COORDINATOR=http://127.0.0.1:1"}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 4 {
		return fmt.Errorf("%s: hbctl %q exited %v, want 4 (coordinator unreachable: scenario and flags accepted):\n%s", run.where, args, err, out.String())
	}
	return nil
}

func (r *rendered) service(name string) *corev1.Service {
	for _, s := range r.services {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// portOf is the port number of a listen address (":7070", "0.0.0.0:7070").
func portOf(addr string) (int32, error) {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(p, 10, 32)
	return int32(n), err
}

// servicePort checks that svc exposes the container's listen address addr
// with protocol proto, through a container port of that number;
// samePort: the Service's port must be the same number.
func servicePort(svc *corev1.Service, c *corev1.Container, addr string, proto corev1.Protocol, samePort bool) error {
	port, err := portOf(addr)
	if err != nil {
		return fmt.Errorf("service/%s: listen address %q: %w", svc.Name, addr, err)
	}
	for _, sp := range svc.Spec.Ports {
		p := sp.Protocol
		if p == "" {
			p = corev1.ProtocolTCP
		}
		if p != proto {
			continue
		}
		for _, cp := range c.Ports {
			cproto := cp.Protocol
			if cproto == "" {
				cproto = corev1.ProtocolTCP
			}
			if cproto != proto || cp.ContainerPort != port {
				continue
			}
			if sp.TargetPort.String() != cp.Name && sp.TargetPort.IntValue() != int(port) {
				continue
			}
			if samePort && sp.Port != port {
				return fmt.Errorf("service/%s: %s port %d targets %d: must be the same number", svc.Name, proto, sp.Port, port)
			}
			return nil
		}
	}
	return fmt.Errorf("service/%s: no %s port reaching the container's %s", svc.Name, proto, addr)
}

// serviceURL checks that raw (a URL) names Service name, in-cluster, at
// the Service port that reaches the container's listen address.
func serviceURL(r *rendered, raw string, given bool, name, listen string) error {
	if !given {
		return errors.New("not given")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	svc := r.service(name)
	if svc == nil {
		return fmt.Errorf("no Service %s", name)
	}
	if host := u.Hostname(); host != name && !strings.HasPrefix(host, name+".") {
		return fmt.Errorf("%s: host %q is not Service %s", raw, host, name)
	}
	want, err := portOf(listen)
	if err != nil {
		return err
	}
	port, _ := strconv.Atoi(u.Port())
	for _, sp := range svc.Spec.Ports {
		if sp.Port == int32(port) && (sp.TargetPort.IntValue() == int(want) || sp.TargetPort.IntValue() == 0) {
			return nil
		}
	}
	return fmt.Errorf("%s: Service %s has no port %d reaching the container's %s", raw, name, port, listen)
}

// healthzProbe checks a readiness probe GET /healthz on the port of addr.
func healthzProbe(cr *containerRun, addr string) error {
	p := cr.c.ReadinessProbe
	if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" {
		return fmt.Errorf("%s: no readiness probe GET /healthz", cr.where)
	}
	want, err := portOf(addr)
	if err != nil {
		return fmt.Errorf("%s: %w", cr.where, err)
	}
	got := int32(p.HTTPGet.Port.IntValue())
	for _, cp := range cr.c.Ports {
		if cp.Name == p.HTTPGet.Port.String() {
			got = cp.ContainerPort
		}
	}
	if got != want {
		return fmt.Errorf("%s: readiness probe on port %d, /healthz is served on %s", cr.where, got, addr)
	}
	return nil
}

// memoryCovers checks cr's memory request against conns connections of
// kib each plus fixedMiB.
func memoryCovers(cr *containerRun, conns int, kib, fixedMiB float64) error {
	req, ok := cr.c.Resources.Requests[corev1.ResourceMemory]
	if !ok {
		return fmt.Errorf("%s: no memory request", cr.where)
	}
	need := resource.NewQuantity(int64((float64(conns)*kib+fixedMiB*1024)*1024), resource.BinarySI)
	if req.Cmp(*need) < 0 {
		return fmt.Errorf("%s: memory request %s is below %d connections x %.1f KiB + %.0f MiB = %s",
			cr.where, req.String(), conns, kib, fixedMiB, need.String())
	}
	if _, ok := cr.c.Resources.Limits[corev1.ResourceCPU]; ok {
		return fmt.Errorf("%s: a CPU limit throttles the load (lateness); request CPU only", cr.where)
	}
	return nil
}

// waitAgents is the WANT_AGENTS of the Job's wait-for-agents container.
func waitAgents(jobs []*batchv1.Job) int {
	for _, j := range jobs {
		for _, c := range j.Spec.Template.Spec.InitContainers {
			for _, e := range c.Env {
				if e.Name == "WANT_AGENTS" {
					n, _ := strconv.Atoi(e.Value)
					return n
				}
			}
		}
	}
	return 0
}

// TestOverlayChecksReject proves checkOverlay fails on what it guards:
// each case breaks one rule in a freshly rendered overlay.
func TestOverlayChecksReject(t *testing.T) {
	dir := filepath.Join("kubernetes", "overlays", "statefulset")
	base, err := render(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkOverlay(base); err != nil {
		t.Fatalf("unbroken: %v", err)
	}
	agent := func(r *rendered) *corev1.PodSpec {
		return &r.statefulSets[slices.IndexFunc(r.statefulSets, isComp("agent"))].Spec.Template.Spec
	}
	for _, c := range []struct {
		name   string
		break_ func(r *rendered)
	}{
		{"agent journal on emptyDir", func(r *rendered) {
			s := agent(r)
			s.Volumes = append(s.Volumes, corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
		}},
		{"agent journal off any volume", func(r *rendered) {
			s := agent(r)
			s.Containers[0].Args = []string{"--coordinator=http://hbctl-coordinator:7070", "--data-dir=/var/tmp/a"}
		}},
		{"Job through a shell", func(r *rendered) {
			c := &r.jobs[0].Spec.Template.Spec.Containers[0]
			c.Command = []string{"/bin/sh", "-c", "hbctl run " + strings.Join(c.Args, " ") + "; exit 0"}
			c.Args = nil
		}},
		{"Job retried", func(r *rendered) { n := int32(3); r.jobs[0].Spec.BackoffLimit = &n }},
		{"scenario rejected by hbctl", func(r *rendered) {
			for _, cm := range r.configMaps {
				for k := range cm.Data {
					cm.Data[k] = "name: x\nusers: 10\nsteps:\n  - qps: fast\n"
				}
			}
		}},
		{"agent name not stable", func(r *rendered) {
			s := agent(r)
			s.Containers[0].Env = slices.DeleteFunc(s.Containers[0].Env, func(e corev1.EnvVar) bool { return e.Name == "HBCTL_AGENT_NAME" })
		}},
		{"time service on another port", func(r *rendered) {
			svc := r.service("hbctl-coordinator")
			for i := range svc.Spec.Ports {
				if svc.Spec.Ports[i].Protocol == corev1.ProtocolUDP {
					svc.Spec.Ports[i].Port = 123
				}
			}
		}},
		{"agent memory below the figures", func(r *rendered) {
			agent(r).Containers[0].Resources.Requests[corev1.ResourceMemory] = resource.MustParse("32Mi")
		}},
		{"readiness on the wire port", func(r *rendered) {
			s := &r.statefulSets[slices.IndexFunc(r.statefulSets, isComp("server"))].Spec.Template.Spec
			s.Containers[0].ReadinessProbe.HTTPGet.Port.StrVal = "wire"
		}},
	} {
		r, err := render(dir)
		if err != nil {
			t.Fatal(err)
		}
		c.break_(r)
		if err := checkOverlay(r); err == nil {
			t.Errorf("%s: no error", c.name)
		} else {
			t.Logf("%s: %v", c.name, err)
		}
	}
}

func isComp(comp string) func(*appsv1.StatefulSet) bool {
	return func(s *appsv1.StatefulSet) bool { return s.Spec.Template.Labels[componentLabel] == comp }
}

// TestReferenceOverlay checks the 17-host reference run: 17 agents, on 17
// nodes, holding the classic scenario's users, which is
// scripts/scenarios/classic.yaml unchanged.
func TestReferenceOverlay(t *testing.T) {
	dir := filepath.Join("kubernetes", "overlays", "reference-17")
	r, err := render(dir)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join("..", "scripts", "scenarios", "classic.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.configMaps) != 1 || r.configMaps[0].Data["scenario.yaml"] != string(want) {
		t.Errorf("the scenario ConfigMap is not scripts/scenarios/classic.yaml: copy it to %s/classic.yaml", dir)
	}
	var sc struct{ Users int }
	if err := yaml.Unmarshal(want, &sc); err != nil {
		t.Fatal(err)
	}
	byComp, pts, err := r.containers()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pts {
		if p.component != "agent" {
			continue
		}
		if p.replicas != 17 {
			t.Errorf("%s: %d agents, want 17", p.where, p.replicas)
		}
		capStr, _ := byComp["agent"][0].value("capacity")
		capacity, _ := strconv.Atoi(capStr)
		if int(p.replicas)*capacity < sc.Users {
			t.Errorf("%d agents x %d < %d users", p.replicas, capacity, sc.Users)
		}
		aff := p.spec.Affinity
		if aff == nil || aff.PodAntiAffinity == nil || len(aff.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution) == 0 ||
			aff.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution[0].TopologyKey != "kubernetes.io/hostname" {
			t.Errorf("%s: no required anti-affinity per node: 17 agents, 17 hosts", p.where)
		}
	}
}
