// Tests read arbitrary JSON answers and assert on their shape; typing every answer would only repeat
// those assertions, so in test code Response#json() is `any` (the overload below is picked first).
declare global {
  interface Response {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    json(): Promise<any>;
  }
}
export {};
