import { describe, expect, it } from '@jest/globals';
import type { InputSchema } from '../features/schema.js';
import { incompatibility } from './compare.js';

const schema = (classNames: string[]) => ({ task: 'MulticlassClassification', features: { target: { column: 'y' } }, classNames, inputs: [] }) as unknown as InputSchema;

describe('incompatibility', () => {
  it('names differing classes shortened: they are cells of the data, and there may be a thousand', () => {
    const many = Array.from({ length: 1000 }, (_, i) => `class-${i}`);
    const reason = incompatibility(schema(['a', 'b']), schema([...many.slice(0, 2), `secret-${'x'.repeat(60)}`, ...many.slice(2)]))!;
    expect(reason).toBe(`its classes ("a", "b") differ from this run's ("class-0", "class-1", <67 characters>, "class-2", "class-3", "class-4", "class-5", "class-6" and 993 more)`);
    expect(incompatibility(schema(['a', 'b']), schema(['a', 'b']))).toBeUndefined();
  });
});
