import { describe, expect, it } from "vitest";
import { fromErrorEvent, fromRejection, MAX_ERROR_MESSAGE_CHARS, MAX_ERROR_STACK_CHARS } from "../src/errors";

describe("error payloads", () => {
  it("carry message, stack, source, line and column of a window error", () => {
    const error = new TypeError("x is undefined");
    error.stack = "TypeError: x is undefined\n    at buy (https://shop.example/app.js:10:5)";
    expect(fromErrorEvent({ message: "Uncaught TypeError: x is undefined", error, filename: "https://shop.example/app.js", lineno: 10, colno: 5 })).toEqual({
      message: "Uncaught TypeError: x is undefined",
      stack: error.stack,
      source: "https://shop.example/app.js",
      line: 10,
      col: 5,
    });
    // A cross-origin script error has nothing but its message.
    expect(fromErrorEvent({ message: "Script error." })).toEqual({ message: "Script error.", stack: "", source: "", line: 0, col: 0 });
  });

  it("take an unhandled rejection's location from its stack", () => {
    const error = new Error("no stock");
    error.stack = "Error: no stock\n    at https://shop.example/cart.js:3:14\n    at later (https://shop.example/x.js:1:1)";
    expect(fromRejection(error)).toEqual({ message: "Unhandled rejection: Error: no stock", stack: error.stack, source: "https://shop.example/cart.js", line: 3, col: 14 });
    expect(fromRejection("plain")).toMatchObject({ message: "Unhandled rejection: plain", stack: "", source: "" });
    expect(fromRejection(Object.create(null)).message).toBe("Unhandled rejection: ");
  });

  it("are bounded", () => {
    const error = new Error("m".repeat(MAX_ERROR_MESSAGE_CHARS * 2));
    error.stack = "s".repeat(MAX_ERROR_STACK_CHARS + 1);
    const p = fromErrorEvent({ error });
    expect(p.message.length).toBe(MAX_ERROR_MESSAGE_CHARS);
    expect(p.stack.length).toBe(MAX_ERROR_STACK_CHARS);
  });
});
