// Package deploy holds no code: its tests validate what deploy/ ships
// without a cluster or a systemd host.
//
//   - kubernetes/: every kustomization is rendered with the kustomize API
//     (what kubectl kustomize runs), every object decoded strictly into its
//     k8s.io/api type (an unknown field fails), and the hbctl-specific
//     rules checked: every hbctl flag and HBCTL_* variable in a container is
//     one that `hbctl <command> --help` lists, journals are on persistent
//     volumes, the run Job's exit code is hbctl run's, requests cover the
//     measured per-connection memory.
//   - the run Job of overlays/statefulset, as rendered, against a real
//     server, coordinator and agents on loopback: it waits for the agents,
//     runs the scenario of its ConfigMap and exits with the verdict.
//   - systemd/: `systemd-analyze verify` on every unit, and the same flag and
//     variable checks on ExecStart and the environment files;
//     scripts/tune-host.sh --install-units installs every unit.
//
// It is a module of its own so that hbctl's go.mod does not carry the
// Kubernetes libraries. It imports nothing of hbctl: it runs the built
// binary (HBCTL_BIN, or builds ../cli/hbctl).
package deploy
