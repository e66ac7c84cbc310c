/**
 * The detectors `wax scan` runs, in this order. Order matters: when two detectors report
 * the same value on the same line, the first one's finding is kept, so the specific
 * structural rules (a plaintext Secret, a file a creation rule covers) come before the
 * generic credential patterns, and the noisy entropy check (off by default) comes last.
 */
import { credentialDetector } from './credentials.js';
import { entropyDetector } from './entropy.js';
import { kubernetesSecretDetector } from './kubernetes.js';
import { sopsCoverageDetector } from './sops-coverage.js';
import { decryptedTwinDetector } from './twins.js';
import type { Detector } from './types.js';

export const DETECTORS: readonly Detector[] = [kubernetesSecretDetector, sopsCoverageDetector, decryptedTwinDetector, credentialDetector, entropyDetector];
