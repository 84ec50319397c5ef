/**
 * Which format POST /translate answers in: `format=` when given; else the `Accept` header, by
 * proper content negotiation (q-values, `image/*`, `q=0` refusals: express's `req.accepts`); else,
 * among the formats the header rates equally best (or with no header at all), the input's own
 * family from the format table (`answer`: JPEG in → JPEG out, PNG in → PNG out, core/image/formats.ts).
 * Nothing acceptable is a 406 that says what is available.
 */
import type { Request } from 'express';
import { answerFormatOf, OUTPUT_FORMATS, OUTPUT_ROWS, type OutputFormat } from '../core/image/formats';
import { HttpProblem } from './problem';

/** The request's `format=`, its Accept header (through `req.accepts`) and the input's format name (undefined when unknown). */
export function negotiateOutputFormat(
  req: Pick<Request, 'accepts'>,
  requested: OutputFormat | undefined,
  inputFormat: string | undefined,
): OutputFormat {
  if (requested !== undefined) return requested;
  const family = answerFormatOf({ format: inputFormat });
  // accepts() breaks ties in the order it is given: the input's family first.
  const offered = [family, ...OUTPUT_FORMATS.filter((f) => f !== family)];
  const accepted = req.accepts(offered.map((f) => OUTPUT_ROWS[f].mime));
  const chosen = offered.find((f) => OUTPUT_ROWS[f].mime === accepted);
  if (chosen) return chosen;
  const mimes = OUTPUT_FORMATS.map((f) => OUTPUT_ROWS[f].mime).join(', ');
  throw new HttpProblem(
    'not-acceptable',
    `Accept allows none of ${mimes} (or pass format=${OUTPUT_FORMATS.join('|')})`,
  );
}
