import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readRows } from '../../client/cli/batch-file.js';
import { repoRoot } from '../../infra/local/twin.js';
import { parseCalibrationCsv } from '../../models/tools/package-model.js';

/**
 * CSV as spreadsheets and historians write it (test/fixtures/csv/tricky-rows.csv): a BOM, CRLF line ends, a
 * quoted header with a comma, quoted cells with commas, doubled quotes and a line break, an empty line, an
 * empty cell. The CLI's batch reader and the packager's calibration reader (both csv-parse) read it alike.
 */

const file = join(repoRoot, 'test', 'fixtures', 'csv', 'tricky-rows.csv');
const expected = [
  { temp: 360, pressure: 6, flow: 100 },
  { temp: 340, pressure: 7, flow: 90 },
  { temp: 350, pressure: 6.5, flow: 110 },
  { temp: 370, pressure: 5, flow: 95 },
  { temp: 380, pressure: 4, flow: 120 },
];

describe('tricky CSV', () => {
  it('the fixture really has a BOM, CRLF and a quoted line break', async () => {
    // Act
    const bytes = await readFile(file);

    // Assess
    expect([...bytes.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    expect(bytes.toString('utf8')).toContain('"spans\r\ntwo lines"');
  });

  it('twin batch reads five rows with the right header and values', async () => {
    // Prepare
    let header: string[] = [];

    // Act
    const rows: unknown[] = [];
    for await (const r of readRows(file, 'csv', (h) => (header = h))) rows.push(r.row);

    // Assess
    expect(header).toEqual(['id', 'note, free text', 'temp', 'pressure', 'flow', 'yield']);
    expect(rows).toHaveLength(5);
    rows.forEach((row, i) => expect(row).toMatchObject(expected[i]!));
    expect(rows[1]).toMatchObject({ 'note, free text': 'has a comma, inside' });
    expect(rows[2]).toMatchObject({ 'note, free text': 'spans\r\ntwo lines' });
    expect(rows[3]).toMatchObject({ 'note, free text': 'a "quoted" word' });
    expect(rows[4]).not.toHaveProperty('note, free text');
  });

  it('the packager reads the same rows as calibration data', async () => {
    // Act
    const data = parseCalibrationCsv(await readFile(file, 'utf8'), {
      features: [
        { name: 'temp', unit: '°C', min: 300, max: 400 },
        { name: 'pressure', unit: 'bar', min: 1, max: 10 },
        { name: 'flow', unit: 'kg/h', min: 50, max: 150 },
      ],
      target: { name: 'yield', unit: '%' },
    });

    // Assess
    expect(data.x).toEqual(expected.map((r) => [r.temp, r.pressure, r.flow]));
    expect(data.y).toEqual([84.1, 80.5, 82.0, 83.2, 79.9]);
  });

  it('an unterminated quote is refused as not valid CSV', async () => {
    // Act
    const refused = parseCalibrationCsv.bind(undefined, 'temp,yield\n"360,84\n', { features: [{ name: 'temp', unit: '', min: 0, max: 1 }], target: { name: 'yield', unit: '' } });

    // Assess
    expect(refused).toThrow(/^--calibration: not valid CSV/);
  });
});
