/** Exported events as CSV (SPEC section 4): one header, then rows streamed in chunks with formula cells defused. */
import { Readable } from 'node:stream';
import { stringify } from 'csv-stringify/sync';
import { EXPORT_COLUMNS, type ExportRow } from '../store/queries.ts';

export const CSV_COLUMNS = EXPORT_COLUMNS;

/**
 * escape_formulas: a cell starting with = + - @ tab or CR (or their full-width forms) is run by Excel
 * or Sheets as a formula, so csv-stringify prefixes it with an apostrophe (OWASP's advice).
 */
const CSV_OPTIONS = { escape_formulas: true } as const;

/** Rows per CSV chunk written to the response. */
const CSV_CHUNK_ROWS = 200;

const TIMESTAMP = CSV_COLUMNS.indexOf('timestamp');

/**
 * The CSV of the row batches a store export yields (exportEventRows), as a byte stream with flat memory.
 * `onRow` lets a caller count rows or track the time range.
 */
export function eventsCsv(batches: AsyncIterable<ExportRow[]>, onRow?: (row: { timestamp: string }) => void): Readable {
  // csv-stringify's sync API per cursor batch: one chunk of ~2,000 rows per write instead of a
  // stream transition and a socket write per row, at the same flat memory (one batch at a time).
  async function* chunks(): AsyncGenerator<string> {
    yield stringify([[...CSV_COLUMNS]], CSV_OPTIONS);
    for await (const rows of batches) {
      if (onRow) for (const row of rows) onRow({ timestamp: row[TIMESTAMP]! });
      // Slices keep each chunk under V8's large-object size (128 KB), so chunks die young instead of
      // piling up in large-object space until a full GC: that is what keeps RSS flat.
      for (let at = 0; at < rows.length; at += CSV_CHUNK_ROWS) yield stringify(rows.slice(at, at + CSV_CHUNK_ROWS), CSV_OPTIONS);
    }
  }

  return Readable.from(chunks(), { objectMode: false });
}
