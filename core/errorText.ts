/**
 * The one way an error becomes text for a person: the first line of its message. Libraries
 * (sharp/libvips, onnxruntime, zod) often append stack-like detail on further lines; logs keep
 * the whole error, messages shown to users keep this line.
 */
export function firstLine(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  return (
    text
      .split('\n')
      .map((l) => l.trim())
      .find((l) => l.length > 0) ?? ''
  );
}
