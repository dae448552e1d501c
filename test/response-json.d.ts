// Tests read arbitrary JSON answers and assert on their shape; typing every answer would only repeat
// those assertions, so in test code Response#json() is `any` (the overload below is picked first).
declare global {
  interface Response {
    // biome-ignore lint/suspicious/noExplicitAny: see above; test code only.
    json(): Promise<any>;
  }
}

export {};
