import * as fs from 'node:fs';
import * as path from 'node:path';

const ICD_DIR = '/usr/share/vulkan/icd.d';

/**
 * The ICD file of Mesa's lavapipe (the software Vulkan driver tools/gpu/software-adapter.sh installs),
 * or null: the one VK_ICD_FILENAMES names when that is lavapipe's, else the installed one. Tests that
 * must see the software adapter whatever else is installed hand it to a child process.
 */
export const lavapipeIcd: string | null = (() => {
  const given = process.env.VK_ICD_FILENAMES;
  if (given && /lvp_icd[^/]*\.json$/.test(given) && fs.existsSync(given)) return given;
  try {
    const f = fs.readdirSync(ICD_DIR).find((n) => /^lvp_icd.*\.json$/.test(n));
    return f ? path.join(ICD_DIR, f) : null;
  } catch {
    return null;
  }
})();
