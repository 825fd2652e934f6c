/** Types of next.js for the TypeScript side (its test); the browser loads next.js as it is. */
export function safeNext(next: string | null, origin: string): string;
