// A dashboard the check must reject: one panel's gridPos.w is a string.
import type { Dashboard } from '@grafana/schema';

import type { Widen } from '../widen';

import broken from './broken-gridpos.json';

export const checked: Widen<Dashboard> = broken;
