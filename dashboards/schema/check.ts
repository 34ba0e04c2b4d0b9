// Type-checks every dashboard under ../grafana as a Grafana Dashboard.
// Run: npm ci && npx tsc --noEmit -p tsconfig.json
// Every file in ../grafana must be listed here (a Go test holds to that).
import type { Dashboard } from '@grafana/schema';

import type { Widen } from './widen';

import overview from '../grafana/hbctl-overview.json';
import hosts from '../grafana/hbctl-hosts.json';

export const checked: Record<string, Widen<Dashboard>> = {
  'hbctl-overview.json': overview,
  'hbctl-hosts.json': hosts,
};
