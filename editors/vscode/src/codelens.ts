// "▶ Run workflow" above every workflow file.
import * as vscode from 'vscode';
import { isWorkflowFile } from './workflowFiles';

export const workflowSelector: vscode.DocumentSelector = [
  { scheme: 'file', pattern: '**/*.mimir.{yaml,yml,json}' },
  { scheme: 'file', pattern: '**/workflow.{yaml,yml,json}' },
  { scheme: 'file', pattern: '**/workflows/*.{yaml,yml,json}' },
];

export class RunWorkflowLens implements vscode.CodeLensProvider {
  provideCodeLenses(doc: vscode.TextDocument): vscode.CodeLens[] {
    if (!isWorkflowFile(doc.uri.fsPath)) return [];
    return [new vscode.CodeLens(new vscode.Range(0, 0, 0, 0), { title: '▶ Run workflow', command: 'mimir.runWorkflow', arguments: [doc.uri] })];
  }
}
