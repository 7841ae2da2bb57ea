// Stryker ignorer plugins for `npm run mutation` (stryker.config.mjs). Mutants in what these
// match are reported as "ignored", with the reason below, instead of being tested.
import { declareClassPlugin, PluginKind } from "@stryker-mutator/api/plugin";

const LOG_LEVELS = new Set(["trace", "debug", "info", "warn", "error", "fatal"]);
/** Error classes whose message argument is words for a person, not a rule (by position). */
const MESSAGE_ARG = new Map([
  ["AppError", 1],
  ["AcError", 1],
  ["TypeError", 0],
  ["RangeError", 0],
  ["Error", 0],
]);

const nameOf = (node) => (node?.type === "Identifier" ? node.name : node?.type === "MemberExpression" || node?.type === "OptionalMemberExpression" ? nameOf(node.property) : undefined);

/**
 * Log lines: `deps.logger.info(...)`, `log?.warn(...)`, `c.var.log.debug(...)`. What is logged
 * is not a safety rule here (the key never reaching a log is tested where the key is scrubbed).
 */
class LogIgnorer {
  shouldIgnore(path) {
    const node = path.node;
    if (node.type !== "CallExpression" && node.type !== "OptionalCallExpression") return undefined;
    const callee = node.callee;
    if (callee.type !== "MemberExpression" && callee.type !== "OptionalMemberExpression") return undefined;
    if (!LOG_LEVELS.has(nameOf(callee.property))) return undefined;
    const target = nameOf(callee.object);
    return target === "logger" || target === "log" ? "A log line: what is logged is not a rule under test" : undefined;
  }
}

/**
 * The words of an error (`new AppError("conflict", <words>)`): callers and pages decide on the
 * code or kind, which stays mutated; rewording a message is not a safety change.
 */
class ErrorWordsIgnorer {
  shouldIgnore(path) {
    const parent = path.parentPath?.node;
    if (parent?.type !== "NewExpression") return undefined;
    const at = MESSAGE_ARG.get(nameOf(parent.callee));
    if (at === undefined || parent.arguments[at] !== path.node) return undefined;
    const type = path.node.type;
    return type === "StringLiteral" || type === "TemplateLiteral" ? "An error's words: callers decide on its code or kind" : undefined;
  }
}

export const strykerPlugins = [declareClassPlugin(PluginKind.Ignore, "log-lines", LogIgnorer), declareClassPlugin(PluginKind.Ignore, "error-words", ErrorWordsIgnorer)];
